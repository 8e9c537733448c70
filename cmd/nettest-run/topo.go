package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/lab"
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
	if len(args) == 1 && lab.CheckName(args[0]) == nil {
		if _, err := os.Stat(args[0]); errors.Is(err, fs.ErrNotExist) {
			if st, err := lab.Read(args[0]); err == nil {
				return graphLab(st, format, stdout)
			}
		}
	}
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
	// A lab is not skipped as a run is: what it requires must be here.
	if missing, _ := s.Missing(nettest.DetectFeatures); missing != "" {
		return &exitError{1, fmt.Sprintf("up %s: %s", s.Name, missing)}
	}
	return startSupervisor(s, set, maxSize, stdout, stderr)
}

// startSupervisor starts the lab's supervisor (this binary, supervise)
// in a session of its own and waits for its report: the lab is up, or
// why not (the supervisor then removed what it made). SIGINT or SIGTERM
// meanwhile is passed on: the supervisor stops and removes it all.
func startSupervisor(s *scenario.Scenario, set setFlag, maxSize int64, stdout, stderr io.Writer) error {
	file := s.File
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	args := []string{"supervise", "--max-size", strconv.FormatInt(maxSize, 10)}
	for k, v := range set {
		args = append(args, "--set", k+"="+v)
	}
	args = append(args, file)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("up %s: %w", s.Name, err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "supervisor"), os.NewFile(uintptr(fds[1]), "up")
	defer ours.Close()
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = os.Args[0]            // for ps: nettest-run supervise ... FILE
	cmd.ExtraFiles = []*os.File{theirs} // its fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return fmt.Errorf("up %s: starting its supervisor: %w", s.Name, err)
	}
	pid := cmd.Process.Pid
	reports := make(chan upReport, 1)
	go func() {
		var rep upReport
		if err := json.NewDecoder(ours).Decode(&rep); err != nil {
			rep = upReport{Code: -1}
		}
		reports <- rep
	}()
	var stopped *interruption
	var rep upReport
	for waiting := true; waiting; {
		select {
		case sig := <-sigs:
			if stopped == nil {
				stopped = &interruption{sig.(syscall.Signal)}
				fmt.Fprintf(stderr, "\nnettest-run: %s: stopping %s's supervisor (pid %d), which removes what it made\n", signalName(stopped.sig), s.Name, pid)
				syscall.Kill(pid, syscall.SIGTERM)
			}
		case rep = <-reports:
			waiting = false
		}
	}
	if rep.OK {
		cmd.Process.Release()
		fmt.Fprint(stdout, rep.Text)
		return nil
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
	}
	if rep.Code == -1 { // it ended without a word: what it made is ours to remove
		msg := fmt.Sprintf("up %s: its supervisor (pid %d) ended before the lab was up", s.Name, pid)
		if tail := logTail(lab.Log(s.Name), 10); tail != "" {
			msg += "; its log ends:\n" + tail
		}
		if st, err := lab.Read(s.Name); err == nil && st.Owner.PID == pid && !st.Owner.Alive() {
			if err := st.Remove(); err != nil {
				msg += fmt.Sprintf("\nremoving what it made: %v", err)
			}
		}
		rep = upReport{Code: 1, Error: msg}
	}
	if stopped != nil {
		return &exitError{stopped.code(), fmt.Sprintf("up %s: %v: nothing of it remains", s.Name, stopped)}
	}
	return &exitError{rep.Code, rep.Error}
}

// logTail returns the last lines of a log file, indented, or "".
func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "  " + strings.Join(ls, "\n  ")
}

// graphLab draws a lab that is up: as its supervisor sees it (link
// state, impairments), or as its record says for a lab without one.
func graphLab(st *lab.State, format string, stdout io.Writer) error {
	if st.Supervised {
		return askAndPrint(st.Name, request{Op: "graph", Format: format}, stdout)
	}
	out, err := scenario.GraphLive(st.Name, st.Topology, nil, format)
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprint(stdout, out)
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
		if st.Complete && st.Supervised && st.Owner.Alive() {
			if _, err := ask(st, request{Op: "down"}); err != nil {
				return err
			}
			// The supervisor answers, then exits: down returns once it has,
			// so that nothing of the lab is left when it does.
			for deadline := time.Now().Add(10 * time.Second); st.Owner.Alive(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: its supervisor (%s) took it down but has not exited after 10s", name, st.Owner)
				}
			}
			break
		}
		if err := st.Remove(); err != nil {
			return err
		}
		if st.Complete && st.Gone() {
			fmt.Fprintf(stdout, "%s is down (it was gone already: its supervisor, %s, had ended without taking it down; removed what it left)\n", name, st.Owner)
			return nil
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
		if st.Complete && st.Supervised && st.Owner.Alive() {
			if _, err := ask(st, request{Op: "down"}); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			fmt.Fprintf(stdout, "removed %s\n", name)
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
		} else if st.Gone() {
			how = fmt.Sprintf(" (gone: its supervisor, %s, had ended without taking it down)", st.Owner)
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
	procs := cachedProcs()
	for _, name := range names {
		statusText(stdout, labStatusFor(name, procs))
	}
	return nil
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
