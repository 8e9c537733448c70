package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// parseOne parses a single scenario file, with --set.
func parseOne(cmd string, args []string) (*scenario.Scenario, []string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	set := setFlag{}
	fs.Var(set, "set", "NAME=VALUE")
	format := fs.String("format", "mermaid", "mermaid or dot")
	maxSize := maxSizeFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != 1 {
		return nil, nil, usageError("usage: %s takes one FILE", cmd)
	}
	s, err := scenario.ParseFileMax(pos[0], set, *maxSize)
	if err != nil {
		return nil, nil, &exitError{2, err.Error()}
	}
	return s, []string{*format}, nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	set := setFlag{}
	fs.Var(set, "set", "NAME=VALUE")
	maxSize := maxSizeFlag(fs)
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: validate needs at least one FILE")
	}
	bad := false
	for _, f := range files {
		s, err := scenario.ParseFileMax(f, set, *maxSize)
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

func cmdGraph(args []string, stdout, stderr io.Writer) error {
	s, extra, err := parseOne("graph", args)
	if err != nil {
		return err
	}
	out, err := scenario.Graph(s, extra[0])
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprint(stdout, out)
	return nil
}

func cmdUp(args []string, stdout, stderr io.Writer) error {
	s, _, err := parseOne("up", args)
	if err != nil {
		return err
	}
	if err := nettest.CheckPrivilege(); err != nil {
		return &exitError{2, err.Error()}
	}
	if es := kernelProblems(s); es != nil {
		return &exitError{2, es.Error()}
	}
	if names, _ := upNames(); slices.Contains(names, s.Name) {
		return usageError("topology %s is up already: nettest-run down %s first, or give this one another name", s.Name, s.Name)
	}
	dir, err := os.MkdirTemp("", "nettest-up-"+s.Name+"-")
	if err != nil {
		return err
	}
	r := scenario.NewRun(s, scenario.Options{Detach: true, FilesDir: dir})
	fail := func(err error) error {
		for _, p := range r.Detached() {
			StateProcess{Name: p.Name, PID: p.PID, StartTime: startTime(p.PID)}.end(time.Second)
		}
		r.Close()
		os.RemoveAll(dir)
		return err
	}
	t0 := time.Now()
	if err := r.Setup(context.Background()); err != nil {
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
	st := &State{Name: s.Name, File: s.File, By: "up", Created: time.Now(), Topology: s.Topology, Namespaces: names, FilesDir: dir}
	if abs, err := filepath.Abs(s.File); err == nil {
		st.File = abs
	}
	for _, p := range r.Detached() {
		st.Processes = append(st.Processes, StateProcess{Name: p.Name, Node: p.Node, PID: p.PID, StartTime: startTime(p.PID), Command: p.Command, Dir: p.Dir})
	}
	if err := st.write(); err != nil {
		nettest.RemovePersisted(s.Name)
		return fail(err)
	}
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
		return usageError("usage: down NAME")
	}
	name := args[0]
	st, err := readState(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		persisted, lerr := nettest.ListPersisted()
		if lerr != nil {
			return lerr
		}
		if persisted[name] == nil {
			_, err := findState(name)
			return err
		}
		st = &State{Name: name} // namespaces without state: remove them all the same
	case err != nil:
		return err
	}
	if err := st.remove(); err != nil {
		return err
	}
	os.Remove(StateDir) // only if empty
	fmt.Fprintf(stdout, "%s is down\n", name)
	return nil
}

func cmdClean(args []string, stdout, stderr io.Writer) error {
	if len(args) != 0 {
		return usageError("usage: clean takes no arguments")
	}
	var errs []error
	entries, err := os.ReadDir(StateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		st, err := readState(name)
		if err != nil {
			errs = append(errs, err, os.Remove(filepath.Join(StateDir, e.Name())))
			continue
		}
		for _, p := range st.Processes {
			if p.alive() {
				fmt.Fprintf(stdout, "ending process %s (pid %d) in %s.%s\n", p.Name, p.PID, name, p.Node)
			}
		}
		errs = append(errs, st.remove())
		fmt.Fprintf(stdout, "removed %s\n", name)
	}
	removed, err := nettest.CleanPersisted()
	errs = append(errs, err)
	for _, n := range removed {
		fmt.Fprintf(stdout, "removed namespace %s\n", n)
	}
	os.Remove(StateDir) // only if empty
	return errors.Join(errs...)
}

// attach reopens a topology that is up.
func attach(name string) (*State, *nettest.Network, error) {
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

func cmdExec(args []string, stdout, stderr io.Writer) error {
	dash := slices.Index(args, "--")
	if dash != 2 || len(args) < 4 {
		return usageError("usage: exec NAME NODE -- CMD [ARG...]")
	}
	return execIn(args[0], args[1], args[3:])
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

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	if len(args) != 0 {
		return usageError("usage: status takes no arguments")
	}
	names, err := upNames()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "no topology is up")
		return nil
	}
	procs := netnsProcesses()
	for _, name := range names {
		st, err := readState(name)
		if err != nil {
			persisted, _ := nettest.ListPersisted()
			fmt.Fprintf(stdout, "%s: namespaces %s, not made by nettest-run up (no state: %v)\n\n", name, strings.Join(persisted[name], ", "), err)
			continue
		}
		fmt.Fprintf(stdout, "%s (%s %s, since %s)\n", name, st.By, st.File, st.Created.Format(time.DateTime))
		n, err := nettest.Attach(st.Topology, name)
		if err != nil {
			fmt.Fprintf(stdout, "  cannot reach it: %v\n\n", err)
			continue
		}
		ours := map[int]string{}
		for _, p := range st.Processes {
			if p.alive() {
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

// ifaceLines lists a node's interfaces as the kernel has them.
func ifaceLines(node *nettest.Node) []string {
	h := node.Netlink()
	links, err := h.LinkList()
	if err != nil {
		return []string{"(interfaces: " + err.Error() + ")"}
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		state := "DOWN"
		if a.Flags&net.FlagUp != 0 {
			state = strings.ToUpper(a.OperState.String())
		}
		var addrs []string
		if as, err := h.AddrList(l, netlink.FAMILY_ALL); err == nil {
			for _, ad := range as {
				if ad.IP.IsLinkLocalUnicast() {
					continue
				}
				addrs = append(addrs, ad.IPNet.String())
			}
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%-10s %-8s %s", a.Name, state, strings.Join(addrs, " "))))
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
