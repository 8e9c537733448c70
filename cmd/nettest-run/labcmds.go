package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// The commands that change a lab that is up, through its supervisor
// (control.go, supervisor.go).

// linkNames completes a lab's name, then its links.
func linkNames(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		names, _ := lab.Names()
		return names, cobra.ShellCompDirectiveNoFileComp
	case 1:
		st, err := lab.Read(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r, _ := st.Topology.Resolve()
		var names []string
		for _, l := range r.Links {
			names = append(names, l.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// askAndPrint sends a request to a lab's supervisor and prints its text.
func askAndPrint(name string, req request, stdout io.Writer) error {
	st, err := supervised(name)
	if err != nil {
		return err
	}
	resp, err := ask(st, req)
	if resp != nil {
		fmt.Fprint(stdout, resp.Text)
	}
	return err
}

func linkCommand(stdout, stderr io.Writer) *cobra.Command {
	var period time.Duration
	var times int
	c := &cobra.Command{
		Use:   "link LAB LINK down|up|flap [--period D] [--times N]",
		Short: "take a link of a lab down or up, or flap it",
		Long: `link sets a link of a lab down (both ends, as a cable pulled), up again
(addresses and routes restored), or flaps it: down for --period, up for
--period, --times times (default 1), then up; --times 0 flaps it until the
next link up or down. LINK is a link's name (r1-r2) or one of its ends
(r1:eth1). Automatic routes follow: traffic goes around a link that is down
when the topology has another way.`,
		Example: `  nettest-run link ring r1-r2 down
  nettest-run link ring r1-r2 up
  nettest-run link ring r1-r2 flap --period 2s --times 3`,
		ValidArgsFunction: linkNames,
	}
	c.Flags().DurationVar(&period, "period", time.Second, "flap: how long the link stays down, then up, each time")
	c.Flags().IntVar(&times, "times", 1, "flap: how many times; 0: until link up or down")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) != 3 {
			return usageError("usage: link LAB LINK down|up|flap")
		}
		switch args[2] {
		case "down", "up", "flap":
		default:
			return usageError("usage: link %s %s %s: want down, up or flap", args[0], args[1], args[2])
		}
		if times < 0 {
			return usageError("usage: link: --times %d: want 0 or more", times)
		}
		return askAndPrint(args[0], request{Op: "link", Link: args[1], Action: args[2], Period: period, Times: times}, stdout)
	})
	return c
}

func impairCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		dir                                    string
		clear                                  bool
		delay, jitter                          time.Duration
		loss, corr, dup, reorder, corrupt, rat string
		seed                                   int64
	)
	c := &cobra.Command{
		Use:   "impair LAB LINK [--delay D] [--jitter D] [--loss P] [--rate R] [...] [--dir a-b|b-a|both] | --clear",
		Short: "impair a link of a lab (delay, jitter, loss, rate ...), or clear it",
		Long: `impair replaces a link's impairment, both ways or one (--dir a-b: from its
first endpoint in the file to its second), with what the flags say; --clear
removes it. Probabilities are 10% or 0.1, rates 10mbit, 500kbit. A link
takes what its mechanism makes (status shows it): netem everything;
tbf+nftables only loss and rate; a link declared with impair-via: userspace
everything (the lab's supervisor forwards its frames).`,
		Example: `  nettest-run impair ring h1-r1 --delay 20ms
  nettest-run impair ring h1-r1 --loss 10% --dir a-b
  nettest-run impair ring h1-r1 --clear`,
		ValidArgsFunction: linkNames,
	}
	fs := c.Flags()
	fs.DurationVar(&delay, "delay", 0, "hold every packet this long")
	fs.DurationVar(&jitter, "jitter", 0, "vary the delay by up to this much either way")
	fs.StringVar(&loss, "loss", "", "drop packets with this `PROBABILITY` (10% or 0.1)")
	fs.StringVar(&corr, "loss-correlation", "", "losses in bursts: each decision this much the previous one")
	fs.StringVar(&dup, "duplicate", "", "send packets twice with this `PROBABILITY`")
	fs.StringVar(&reorder, "reorder", "", "send packets at once, ahead of the delayed, with this `PROBABILITY` (needs --delay)")
	fs.StringVar(&corrupt, "corrupt", "", "flip a bit of packets with this `PROBABILITY`")
	fs.StringVar(&rat, "rate", "", "limit to this `RATE` in bits per second (10mbit, 500kbit)")
	fs.Int64Var(&seed, "seed", 0, "seed the userspace mechanism's random source (default: from the link's name)")
	fs.StringVar(&dir, "dir", "both", "the direction: both, a-b (from the link's first endpoint) or b-a")
	fs.BoolVar(&clear, "clear", false, "remove the impairment")
	c.RunE = ran(func(c *cobra.Command, args []string) error {
		if len(args) != 2 {
			return usageError("usage: impair LAB LINK [--delay D ...] | --clear")
		}
		imp := nettest.Impairment{Delay: delay, Jitter: jitter, Seed: seed}
		for _, p := range []struct {
			flag, v string
			to      *float64
		}{{"loss", loss, &imp.Loss}, {"loss-correlation", corr, &imp.LossCorrelation}, {"duplicate", dup, &imp.Duplicate}, {"reorder", reorder, &imp.Reorder}, {"corrupt", corrupt, &imp.Corrupt}} {
			if p.v == "" {
				continue
			}
			v, err := scenario.ParseFraction(p.v)
			if err != nil {
				return usageError("usage: impair: --%s: %v", p.flag, err)
			}
			*p.to = v
		}
		if rat != "" {
			v, err := scenario.ParseRate(rat)
			if err != nil {
				return usageError("usage: impair: --rate: %v", err)
			}
			imp.Rate = v
		}
		set := false
		c.Flags().Visit(func(f *pflag.Flag) {
			if f.Name != "dir" && f.Name != "clear" {
				set = true
			}
		})
		switch {
		case clear && set:
			return usageError("usage: impair: --clear takes no impairment flags")
		case !clear && !set:
			return usageError("usage: impair LAB LINK: say how (--delay, --jitter, --loss, --rate ...), or --clear")
		}
		return askAndPrint(args[0], request{Op: "impair", Link: args[1], Dir: dir, Impair: imp, Clear: clear}, stdout)
	})
	return c
}

func partitionCommand(stdout, stderr io.Writer) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "partition LAB NODE... [--name NAME]",
		Short: "cut nodes of a lab off from the others (not from each other)",
		Long: `partition sets down every link between the nodes named and the rest of
the lab, and reroutes. heal undoes it.`,
		Example:           "  nettest-run partition ring h1 r1\n  nettest-run heal ring",
		ValidArgsFunction: labNames(true),
	}
	c.Flags().StringVar(&name, "name", "", "name the partition, for heal (default p1, p2 ...)")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) < 2 {
			return usageError("usage: partition LAB NODE...")
		}
		return askAndPrint(args[0], request{Op: "partition", Nodes: args[1:], Name: name}, stdout)
	})
	return c
}

func healCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:               "heal LAB [NAME]",
		Short:             "undo a lab's partitions (every one, or the one named)",
		ValidArgsFunction: labNames(false),
	}
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return usageError("usage: heal LAB [NAME]")
		}
		req := request{Op: "heal"}
		if len(args) == 2 {
			req.Name = args[1]
		}
		return askAndPrint(args[0], req, stdout)
	})
	return c
}

func pingallCommand(stdout, stderr io.Writer) *cobra.Command {
	var count int
	var timeout time.Duration
	var family string
	c := &cobra.Command{
		Use:   "pingall LAB [NODE...] [--count N] [--timeout D] [--family ipv4|ipv6]",
		Short: "ping every node of a lab from every other, and print the matrix",
		Long: `pingall pings each ordered pair of the lab's hosts and routers (or of the
nodes named), over each family the target has, all at once, and prints the
matrix: a row per source, a column per target, each cell ok or X (IPv4/IPv6),
then a line per failed ping saying what was seen. It exits 1 when a ping
failed.`,
		ValidArgsFunction: labNames(false),
	}
	c.Flags().IntVar(&count, "count", 1, "echo requests per pair")
	c.Flags().DurationVar(&timeout, "timeout", time.Second, "how long each request waits for its reply")
	c.Flags().StringVar(&family, "family", "", "only ipv4 or ipv6 (default: every family the target has)")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) < 1 {
			return usageError("usage: pingall LAB [NODE...]")
		}
		return askAndPrint(args[0], request{Op: "pingall", Nodes: args[1:], Count: count, Timeout: timeout, Family: family}, stdout)
	})
	return c
}

func captureCommand(stdout, stderr io.Writer) *cobra.Command {
	var out string
	var duration time.Duration
	c := &cobra.Command{
		Use:   "capture LAB NODE:IFACE [-w FILE|-] [--duration D]",
		Short: "capture an interface of a lab live, as pcapng",
		Long: `capture records the frames crossing an interface of a lab (both ways), as
pcapng written as they come: to FILE, or with -w - (the default when the
output is not a terminal) to the standard output, for a reader at the end
of a pipe. It runs until interrupted (Ctrl-C, which exits 0), --duration,
or the lab going down.`,
		Example: `  nettest-run capture ring r1:eth1 -w - | tshark -r -
  nettest-run capture ring r1:eth1 -w - | wireshark -k -i -
  nettest-run capture ring h1:eth0 -w h1.pcapng --duration 10s`,
		ValidArgsFunction: labNames(false),
	}
	c.Flags().StringVarP(&out, "write", "w", "", "write the pcapng to `FILE` (- for the standard output)")
	c.Flags().DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) != 2 {
			return usageError("usage: capture LAB NODE:IFACE [-w FILE|-]")
		}
		return cmdCapture(args[0], args[1], out, duration, stdout, stderr)
	})
	return c
}

func cmdCapture(name, endpoint, out string, duration time.Duration, stdout, stderr io.Writer) error {
	var w io.Writer
	switch out {
	case "":
		if isTerminal(stdout) {
			return usageError("usage: capture writes pcapng, which a terminal cannot show: -w FILE, or -w - | tshark -r -")
		}
		w, out = stdout, "-"
	case "-":
		w = stdout
	}
	st, err := supervised(name)
	if err != nil {
		return err
	}
	conn, r, err := dial(st, request{Op: "capture", Endpoint: endpoint})
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := readResponse(st, r)
	if err != nil {
		return err
	}
	if !resp.OK {
		return &exitError{max(resp.Code, 1), resp.Error}
	}
	if w == nil {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	where := out
	if out == "-" {
		where = "the standard output"
	}
	fmt.Fprintf(stderr, "capturing %s of %s to %s (Ctrl-C ends it)\n", endpoint, name, where)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	why := make(chan string, 2)
	go func() {
		if s, ok := <-sigs; ok {
			why <- signalName(s.(syscall.Signal))
			conn.Close()
		}
	}()
	if duration > 0 {
		t := time.AfterFunc(duration, func() {
			why <- "after " + duration.String()
			conn.Close()
		})
		defer t.Stop()
	}
	_, err = io.Copy(w, r)
	select {
	case reason := <-why:
		fmt.Fprintf(stderr, "capture of %s ended: %s\n", endpoint, reason)
		return nil
	default:
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("capture of %s: %w", endpoint, err)
	}
	fmt.Fprintf(stderr, "capture of %s ended by the lab's supervisor: the lab %s went down, or the interface did (%s says which)\n", endpoint, name, lab.Log(name))
	return nil
}
