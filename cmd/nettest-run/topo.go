package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// parseOne parses the single scenario file of cmd's arguments, with --set.
func parseOne(cmd string, pos []string, set setFlag, maxSize int64) (*scenario.Scenario, error) {
	if len(pos) != 1 {
		return nil, usageError("usage: %s takes one FILE", cmd)
	}
	s, err := scenario.ParseFileMax(pos[0], set, maxSize)
	if err != nil {
		return nil, &exitError{2, err.Error()}
	}
	return s, nil
}

func cmdValidate(args []string, set setFlag, maxSize int64, stdout, stderr io.Writer) error {
	files, err := scenarioArgs("validate", args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: validate needs at least one FILE")
	}
	bad := false
	for _, f := range files {
		s, err := scenario.ParseFileMax(f, set, maxSize)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		if es := kernelProblems(s); es != nil {
			fmt.Fprintln(stderr, es)
			bad = true
			continue
		}
		fmt.Fprintf(stdout, "ok   %s: %s, %s\n", f, counts(s), plural(len(s.Steps), "step"))
	}
	if bad {
		return &exitError{2, ""}
	}
	return nil
}

func cmdGraph(args []string, set setFlag, maxSize int64, format string, stdout, stderr io.Writer) error {
	s, err := parseOne("graph", args, set, maxSize)
	if err != nil {
		return err
	}
	out, err := scenario.Graph(s, format)
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprint(stdout, out)
	return nil
}

func cmdUp(args []string, set setFlag, maxSize int64, stdout, stderr io.Writer) error {
	s, err := parseOne("up", args, set, maxSize)
	if err != nil {
		return err
	}
	if err := nettest.CheckPrivilege(); err != nil {
		return &exitError{2, err.Error()}
	}
	// The file's own problems first: they are the same wherever it runs.
	if es := kernelProblems(s); es != nil {
		return &exitError{2, es.Error()}
	}
	if nettest.Rootless() {
		return &exitError{2, fmt.Sprintf("up: %v: a lab's namespaces are named under %s, which needs root in the host's user namespace, and this process runs rootless (run needs no named namespaces)", nettest.ErrPrivilege, nettest.NetnsDir)}
	}
	if names, _ := lab.UpNames(); slices.Contains(names, s.Name) {
		return usageError("topology %s is up already: nettest-run down %s first, or give this one another name", s.Name, s.Name)
	}
	// SIGINT or SIGTERM before the lab is complete undoes it all; after,
	// the lab stays.
	sig := watchSignals(stderr)
	defer sig.stop()
	sig.current.Store(&s.Name)
	ctx := sig.ctx

	st := &lab.State{Name: s.Name, File: s.File, By: "up", Created: time.Now(), Owner: owner.Self(), Topology: s.Topology}
	if abs, err := filepath.Abs(s.File); err == nil {
		st.File = abs
	}
	// Recorded before anything is made: if this process is killed, clean
	// finds every part of the lab through this record.
	if err := st.Claim(); err != nil {
		return labError(err)
	}
	r := scenario.NewRun(s, scenario.Options{Detach: true, FilesDir: lab.FilesDir(s.Name), Adopt: func(p scenario.Started) error {
		st.Processes = append(st.Processes, lab.Process{Name: p.Name, Node: p.Node, PID: p.PID, StartTime: owner.StartTime(p.PID), Boot: owner.BootID(), Command: p.Command, Dir: p.Dir})
		return st.Write()
	}})
	fail := func(err error) error {
		r.Close()
		if rerr := st.Remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing what up made: %w", rerr))
		}
		if stopped := sig.stopped(); stopped != nil {
			return &exitError{stopped.code(), fmt.Sprintf("up %s: %v: nothing of it remains", s.Name, stopped)}
		}
		return err
	}
	t0 := time.Now()
	if err := r.Setup(ctx); err != nil {
		if r.InvalidInput() {
			err = &exitError{2, err.Error()}
		}
		return fail(err)
	}
	if links := userspaceLinks(r.Network); len(links) > 0 {
		return fail(&exitError{2, fmt.Sprintf("up: link %s: impaired in userspace, by a forwarder inside nettest-run that ends when up returns, so it would carry nothing (netem and tbf+nftables impairments stay; or use run)", strings.Join(links, ", "))})
	}
	names, err := r.Network.Persist()
	if err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	st.Namespaces, st.Complete = names, true
	if err := st.Write(); err != nil {
		return fail(err)
	}
	sig.stop() // the lab is up: from here on, a signal ends only this process
	fmt.Fprintf(stdout, "%s is up (%s, built in %s). Enter a node:\n", s.Name, counts(s), dur(time.Since(t0)))
	fmt.Fprint(stdout, enterHelp(s.Name, r.Network))
	for _, p := range st.Processes {
		fmt.Fprintf(stdout, "  process %s in %s: pid %d, files and output.log in %s\n", p.Name, p.Node, p.PID, p.Dir)
	}
	fmt.Fprintf(stdout, "nettest-run status shows it; nettest-run down %s removes it.\n", s.Name)
	r.Close() // the namespaces are persisted and the processes detached: both stay
	return nil
}

func cmdDown(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageError("usage: down LAB")
	}
	name := args[0]
	if err := lab.CheckName(name); err != nil {
		return labError(err)
	}
	st, err := lab.Read(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		persisted, lerr := nettest.ListPersisted()
		if lerr != nil {
			return lerr
		}
		if persisted[name] == nil {
			return alreadyDown(name, stdout)
		}
		// Namespaces nettest persisted (run --keep-on-failure in a Go
		// test, say) without a lab: its record proves them.
		if err := nettest.RemovePersisted(name); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if !st.Complete && st.Owner.Alive() {
			return usageError("topology %s is being brought up by %s: interrupt that (it removes what it made), or wait", name, st.Owner)
		}
		if err := st.Remove(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s is down\n", name)
	return nil
}

// alreadyDown answers down of a lab that is not up, and of which nettest
// persisted nothing: it is down already (a second down, say), unless
// namespaces named as the lab's would be are there without nettest's
// record of them: those are someone else's and stay.
func alreadyDown(name string, stdout io.Writer) error {
	m, _ := filepath.Glob(filepath.Join(nettest.NetnsDir, nettest.PersistedName(name, "*")))
	if len(m) > 0 {
		return usageError("no topology %q is up: %s: not made by nettest (it has no record of them), left alone", name, strings.Join(m, ", "))
	}
	fmt.Fprintf(stdout, "%s is already down (no lab of that name is up)\n", name)
	return nil
}

func cmdClean(args []string, stdout, stderr io.Writer) error {
	if len(args) != 0 {
		return usageError("usage: clean takes no arguments")
	}
	var errs []error
	entries, err := os.ReadDir(lab.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || nettest.CheckTopologyName(name) != nil {
			continue
		}
		st, err := lab.Read(name)
		if err != nil {
			// Unreadable (a process killed while writing it): the lab is
			// named by its file, in nettest's own folder.
			fmt.Fprintf(stdout, "removing unreadable state of %s: %v\n", name, err)
			st = &lab.State{Name: name}
		}
		if !st.Complete && st.Owner.Alive() {
			fmt.Fprintf(stdout, "left alone: %s: being brought up by %s\n", name, st.Owner)
			continue
		}
		for _, p := range st.Processes {
			if p.Alive() {
				fmt.Fprintf(stdout, "ending process %s (pid %d) in %s.%s\n", p.Name, p.PID, name, p.Node)
			}
		}
		errs = append(errs, st.Remove())
		how := ""
		if !st.Complete {
			how = fmt.Sprintf(" (left by an interrupted up, %s)", st.Owner)
		}
		fmt.Fprintf(stdout, "removed %s%s\n", name, how)
	}
	removed, skipped, err := nettest.CleanPersisted()
	errs = append(errs, err)
	for _, n := range removed {
		fmt.Fprintf(stdout, "removed namespace %s\n", n)
	}
	for _, s := range skipped {
		fmt.Fprintf(stdout, "left alone: namespace %s: %s\n", s.Name, s.Reason)
	}
	scratch, left, err := scenario.ReapScratch()
	errs = append(errs, err)
	for _, p := range scratch {
		fmt.Fprintf(stdout, "removed %s (scratch of a run that was killed)\n", p)
	}
	for _, s := range left {
		if s.InUse { // the others were never scratch of a run
			fmt.Fprintf(stdout, "left alone: %s: %s\n", s.Path, s.Reason)
		}
	}
	return errors.Join(errs...)
}

// attach reopens a topology that is up.
func attach(name string) (*lab.State, *nettest.Network, error) {
	st, err := findState(name)
	if err != nil {
		return nil, nil, err
	}
	n, err := nettest.Attach(st.Topology, st.Name)
	if err != nil {
		return nil, nil, err
	}
	return st, n, nil
}

// nodeOf finds a node, or says which exist.
func nodeOf(n *nettest.Network, name, node string) (*nettest.Node, error) {
	nd, err := n.Node(node)
	if err != nil {
		var names []string
		for _, x := range n.Nodes() {
			names = append(names, x.Name())
		}
		for _, x := range n.Switches() {
			names = append(names, x.Name()+" (switch)")
		}
		return nil, usageError("topology %s has no node %q (nodes: %s)", name, node, strings.Join(names, ", "))
	}
	return nd, nil
}

// cmdExec runs exec LAB NODE [--] CMD [ARG...]: everything after NODE is
// the command's, but for a "--" right after NODE.
func cmdExec(args []string, stdout, stderr io.Writer) error {
	if len(args) >= 3 && args[2] == "--" {
		args = slices.Delete(slices.Clone(args), 2, 3)
	}
	if len(args) < 3 {
		return usageError("usage: exec LAB NODE [--] CMD [ARG...]")
	}
	return execIn(args[0], args[1], args[2:])
}

func cmdShell(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return usageError("usage: shell NAME NODE")
	}
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/bash"
	}
	if _, err := os.Stat(sh); err != nil {
		sh = "/bin/sh"
	}
	return execIn(args[0], args[1], []string{sh})
}

// execIn replaces this process with the command, inside the node.
func execIn(name, node string, argv []string) error {
	if err := nettest.CheckPrivilege(); err != nil {
		return &exitError{2, err.Error()}
	}
	_, n, err := attach(name)
	if err != nil {
		return err
	}
	defer n.Close()
	nd, err := nodeOf(n, name, node)
	if err != nil {
		return err
	}
	env := append(os.Environ(), "NETTEST_TOPOLOGY="+name, "NETTEST_NODE="+node)
	if err := nd.Exec(argv[0], argv, env); err != nil {
		return &exitError{127, err.Error()}
	}
	return nil
}

func cmdStatus(args []string, jsonOut bool, stdout, stderr io.Writer) error {
	names, err := statusNames(args)
	if err != nil {
		return err
	}
	if jsonOut {
		return statusJSON(names, stdout)
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "no topology is up")
		return nil
	}
	procs := netnsProcesses()
	for _, name := range names {
		st, err := lab.Read(name)
		if err != nil {
			persisted, _ := nettest.ListPersisted()
			fmt.Fprintf(stdout, "%s: namespaces %s, not made by nettest-run up (no state: %v)\n\n", name, strings.Join(persisted[name], ", "), err)
			continue
		}
		fmt.Fprintf(stdout, "%s (%s %s, since %s)\n", name, st.By, st.File, st.Created.Format(time.DateTime))
		if !st.Complete {
			if st.Owner.Alive() {
				fmt.Fprintf(stdout, "  being brought up by %s\n\n", st.Owner)
			} else {
				fmt.Fprintf(stdout, "  not fully brought up: %s ended first (nettest-run down %s, or clean, removes what it left)\n\n", st.Owner, name)
			}
			continue
		}
		n, err := nettest.Attach(st.Topology, name)
		if err != nil {
			fmt.Fprintf(stdout, "  cannot reach it: %v\n\n", err)
			continue
		}
		ours := map[int]string{}
		for _, p := range st.Processes {
			if p.Alive() {
				ours[p.PID] = p.Name
			}
		}
		for _, node := range append(n.Nodes(), n.Switches()...) {
			kind := node.Kind().String()
			if node.IsSwitch() {
				kind = "switch"
			}
			fmt.Fprintf(stdout, "  %-10s %-6s %s\n", node.Name(), kind, nettest.PersistedName(name, node.Name()))
			for _, line := range ifaceLines(node) {
				fmt.Fprintf(stdout, "      %s\n", line)
			}
			ino := nsInode(filepath.Join(nettest.NetnsDir, nettest.PersistedName(name, node.Name())))
			for _, p := range procs[ino] {
				mark := ""
				if who, ok := ours[p.pid]; ok {
					mark = " [nettest-run: " + who + "]"
				}
				fmt.Fprintf(stdout, "      pid %-7d %s%s\n", p.pid, p.cmdline, mark)
			}
		}
		n.Close()
		fmt.Fprintln(stdout)
	}
	return nil
}

// ifaceLines lists a node's interfaces as the kernel has them, without
// link-local addresses.
func ifaceLines(node *nettest.Node) []string {
	ifaces, err := node.KernelInterfaces()
	if err != nil {
		return []string{"(interfaces: " + err.Error() + ")"}
	}
	var out []string
	for _, in := range ifaces {
		var addrs []string
		for _, a := range in.Addrs {
			if !a.Addr().IsLinkLocalUnicast() {
				addrs = append(addrs, a.String())
			}
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%-10s %-8s %s", in.Name, in.OperState, strings.Join(addrs, " "))))
	}
	return out
}

// nsInode returns the inode of a namespace file, which names the namespace
// in /proc/PID/ns/net as lsns shows it.
func nsInode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

type nsProc struct {
	pid     int
	cmdline string
}

// netnsProcesses lists every process by the inode of its network namespace.
func netnsProcesses() map[uint64][]nsProc {
	out := map[uint64][]nsProc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue
		}
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmd := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
		if len(cmd) > 100 {
			cmd = cmd[:100] + "..."
		}
		out[st.Ino] = append(out[st.Ino], nsProc{pid, cmd})
	}
	return out
}

// userspaceLinks names the links whose impairments a forwarder in this
// process makes: they carry nothing once it ends.
func userspaceLinks(n *nettest.Network) []string {
	var names []string
	for _, l := range n.Links() {
		if l.Mechanism() == nettest.MechanismUserspace {
			names = append(names, l.Name())
		}
	}
	return names
}
