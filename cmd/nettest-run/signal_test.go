package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/testenv"
)

// The tests of Ctrl-C: nettest-run run gets SIGINT or SIGTERM while a step
// waits (an eventually step that cannot pass: a ping of an address of the
// topology's own subnet that no node has), and must stop at once, tear
// down, report the scenario as interrupted and name the files not run.

// hanging is a scenario whose second step waits 30s for a reply that never
// comes, with a process running in a node.
func hanging(name, process string) string {
	return fmt.Sprintf(`name: %s
topology:
  nodes: [red, blue]
  links:
    - endpoints: [red:eth0 10.1.1.1/24, blue:eth0 10.1.1.2/24]
  processes:
    - {name: sleeper, node: blue, command: %s, ready: {log: up}}
steps:
  - ping: {from: red, to: blue}
  - eventually:
      within: 30s
      step: {ping: {from: red, to: 10.1.1.9}}
  - ping: {from: blue, to: red}
`, name, process)
}

// plainSleeper prints "up" and sleeps; SIGTERM ends it.
const plainSleeper = `"echo up; exec sleep 1000"`

// stubbornSleeper ignores SIGTERM: only SIGKILL, after the 5s grace, ends it.
const stubbornSleeper = `["sh", "-c", "trap '' TERM; echo up; sleep 1000"]`

// started is nettest-run running in the background.
type started struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at its end
	stdout strings.Builder
	stderr syncBuffer
	done   chan struct{} // closed when stdout is read to the end
	mu     sync.Mutex
}

// syncBuffer is a strings.Builder safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCLI starts nettest-run with args.
func startCLI(t *testing.T, args ...string) *started {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if bin == "" {
		cmd = exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), runAsCLI+"=1")
	}
	s := &started{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a test that failed early: stop it as a user would
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			t := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			cmd.Wait()
			t.Stop()
		}
	})
	go func() {
		defer close(s.done)
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.stdout.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			s.lines <- sc.Text()
		}
	}()
	return s
}

// waitFor reads stdout until a line has want in it.
func (s *started) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("nettest-run ended before printing %q:\n%s%s", want, s.output(), s.stderr.String())
			}
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q after 30s:\n%s%s", want, s.output(), s.stderr.String())
		}
	}
}

func (s *started) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stdout.String()
}

// wait waits for the end and returns the exit code and how long it took.
func (s *started) wait(t *testing.T) (int, time.Duration) {
	t.Helper()
	t0 := time.Now()
	go func() {
		for range s.lines { // drain what waitFor did not read
		}
	}()
	<-s.done
	err := s.cmd.Wait()
	d := time.Since(t0)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Errorf("nettest-run died of %v", ws.Signal())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("nettest-run: exit %d after %v\n%s%s", code, d, s.output(), s.stderr.String())
	return code, d
}

// proc is a process, told from a later one with its PID by its start time.
type proc struct {
	pid   int
	start string
	netns string // its network namespace: "net:[4026532...]"
}

// procStat reads a process's parent and start time from /proc.
func procStat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// After "pid (comm) ": state ppid ... starttime is field 22.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[19], true
}

// descendants returns the processes below pid, with their namespaces.
func descendants(pid int) []proc {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]proc{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, start, ok := procStat(p); ok {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p))
			children[ppid] = append(children[ppid], proc{p, start, ns})
		}
	}
	var out []proc
	var walk func(int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			out = append(out, c)
			walk(c.pid)
		}
	}
	walk(pid)
	return out
}

// alive reports whether p still runs (a zombie has ended).
func (p proc) alive() bool {
	_, start, ok := procStat(p.pid)
	if !ok || start != p.start {
		return false
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z")
}

// netnsHeld returns the processes anywhere that are in namespace ns.
func netnsHeld(ns string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p)); got == ns {
			pids = append(pids, p)
		}
	}
	return pids
}

// scratch returns nettest-run's folders in the temporary folder for the
// scenario name.
func scratch(name string) []string {
	var out []string
	for _, pat := range []string{"nettest-run-" + name + "-*", "nettest-run-capture-" + name + "-*"} {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), pat))
		out = append(out, m...)
	}
	return out
}

// interruptFixture writes three hanging scenarios; the first one's process
// is given.
func interruptFixture(t *testing.T, prefix, process string) (name string, files []string) {
	t.Helper()
	name = uniq(prefix)
	for i, n := range []string{"a", "b", "c"} {
		p := plainSleeper
		if i == 0 {
			p = process
		}
		files = append(files, scenarioFile(t, n+".yaml", hanging(name+n, p)))
	}
	return name + "a", files
}

// running records what nettest-run has made while it runs: its processes
// (the shims and the commands in the nodes) and their namespaces.
func running(t *testing.T, s *started) []proc {
	t.Helper()
	procs := descendants(s.cmd.Process.Pid)
	var nodes int
	self, _ := os.Readlink("/proc/self/ns/net")
	for _, p := range procs {
		if p.netns != self {
			nodes++
		}
	}
	if nodes == 0 {
		t.Fatalf("no process of nettest-run in a namespace of its own: %+v", procs)
	}
	return procs
}

// nothingLeft checks that the processes and namespaces nettest-run had are
// gone, and its scratch folders.
func nothingLeft(t *testing.T, name string, procs []proc) {
	t.Helper()
	self, _ := os.Readlink("/proc/self/ns/net")
	for _, p := range procs {
		if p.alive() {
			t.Errorf("process %d left running", p.pid)
		}
		if p.netns != self && p.netns != "" {
			if held := netnsHeld(p.netns); len(held) > 0 {
				t.Errorf("namespace %s left, held by %v", p.netns, held)
			}
		}
	}
	if left := scratch(name); len(left) > 0 {
		t.Errorf("scratch folders left: %v", left)
	}
	noLeftovers(t, name)
}

// TestRunSIGINT: Ctrl-C during an eventually step stops it at once, tears
// the topology down, reports it as interrupted in the text and JUnit
// reports, names the files not run, and exits 130.
func TestRunSIGINT(t *testing.T) {
	testenv.RequirePrivilege(t)
	name, files := interruptFixture(t, "sigint", plainSleeper)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	s := startCLI(t, append([]string{"run", "--junit", junit}, files...)...)
	s.waitFor(t, "--- PASS: "+name+"/01 ") // the eventually step runs next
	procs := running(t, s)
	s.cmd.Process.Signal(os.Interrupt)
	code, took := s.wait(t)
	if code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if took > 2*time.Second {
		t.Errorf("exit %v after SIGINT", took)
	}
	out := s.output()
	for _, want := range []string{
		"--- INTERRUPTED: " + name + "/02 ping red -> 10.1.1.9 (within 30s) (",
		"    interrupted by SIGINT after ",
		"INTERRUPTED " + name + ": 1 passed, 0 failed, 1 interrupted (",
		"1 of 3 scenarios in ",
		"interrupted by SIGINT: not run: " + files[1] + ", " + files[2] + "\n",
		"INTERRUPTED: 1 passed, 0 failed, 0 skipped, 1 interrupted\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q", want)
		}
	}
	if strings.Contains(out, "FAIL") || strings.Contains(out, "/03") {
		t.Errorf("a failure reported, or a step run after the interruption")
	}
	if !strings.Contains(s.stderr.String(), "nettest-run: SIGINT: stopping "+name+" and tearing it down") {
		t.Errorf("stderr does not say what SIGINT does")
	}
	nothingLeft(t, name, procs)

	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			File  string `xml:"file,attr"`
			Cases []struct {
				Name  string `xml:"name,attr"`
				Error *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"error"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if doc.Tests != 4 || doc.Failures != 0 || doc.Errors != 1 || doc.Skipped != 2 || len(doc.Suites) != 3 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("junit: %+v\n%s", doc, data)
	}
	if e := doc.Suites[0].Cases[1].Error; e == nil || e.Type != "interrupted" || !strings.HasPrefix(e.Message, "interrupted by SIGINT after ") {
		t.Errorf("junit: the eventually step is not an error of type interrupted: %+v", doc.Suites[0].Cases[1])
	}
	for i, suite := range doc.Suites[1:] {
		if suite.File != files[i+1] || len(suite.Cases) != 1 || suite.Cases[0].Skipped == nil || suite.Cases[0].Skipped.Message != "interrupted by SIGINT: not run" {
			t.Errorf("junit: file %s is not a skipped suite saying not run: %+v", files[i+1], suite)
		}
	}
}

// TestRunSIGTERMJSON: SIGTERM exits 143; in the test2json stream the step
// is a skip saying interrupted, the scenario a failure saying why, and each
// file not run a skipped package.
func TestRunSIGTERMJSON(t *testing.T) {
	testenv.RequirePrivilege(t)
	name, files := interruptFixture(t, "sigterm", plainSleeper)
	s := startCLI(t, append([]string{"run", "--json"}, files...)...)
	step := name + "/02 ping red -> 10.1.1.9 (within 30s)"
	quoted, _ := json.Marshal(step)
	s.waitFor(t, `"Action":"run","Package":"`+files[0]+`","Test":`+string(quoted))
	procs := running(t, s)
	s.cmd.Process.Signal(syscall.SIGTERM)
	code, took := s.wait(t)
	if code != 143 {
		t.Errorf("exit %d, want 143", code)
	}
	if took > 2*time.Second {
		t.Errorf("exit %v after SIGTERM", took)
	}
	type event struct {
		Action, Package, Test, Output string
	}
	final := map[[2]string]string{} // package, test -> its last action
	outputs := map[[2]string]string{}
	dec := json.NewDecoder(strings.NewReader(s.output()))
	for {
		var e event
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		k := [2]string{e.Package, e.Test}
		if e.Action == "output" {
			outputs[k] += e.Output
		} else {
			final[k] = e.Action
		}
	}
	for _, c := range []struct {
		pkg, test, action, output string
	}{
		{files[0], name + "/01 ping red -> blue", "pass", "--- PASS"},
		{files[0], step, "skip", "    interrupted by SIGTERM after "},
		{files[0], step, "skip", "--- SKIP (interrupted): " + step},
		{files[0], name, "fail", "    interrupted by SIGTERM; torn down\n"},
		{files[1], "", "skip", "interrupted by SIGTERM: not run\n"},
		{files[2], "", "skip", "interrupted by SIGTERM: not run\n"},
	} {
		k := [2]string{c.pkg, c.test}
		if final[k] != c.action || !strings.Contains(outputs[k], c.output) {
			t.Errorf("%s %q: %s %q, want %s with %q", c.pkg, c.test, final[k], outputs[k], c.action, c.output)
		}
	}
	if want := "nettest-run: interrupted by SIGTERM: not run: " + files[1] + ", " + files[2] + "\n"; !strings.HasSuffix(s.stderr.String(), want) {
		t.Errorf("stderr does not end with %q", want)
	}
	nothingLeft(t, name, procs)
}

// TestRunSecondSIGINT: a second Ctrl-C during the teardown (waiting for a
// process that ignores SIGTERM) kills the processes at once, says that the
// teardown still completes, and it does: nothing is left.
func TestRunSecondSIGINT(t *testing.T) {
	testenv.RequirePrivilege(t)
	name, files := interruptFixture(t, "sigint2", stubbornSleeper)
	s := startCLI(t, append([]string{"run"}, files...)...)
	s.waitFor(t, "--- PASS: "+name+"/01 ")
	procs := running(t, s)
	t0 := time.Now()
	s.cmd.Process.Signal(os.Interrupt)
	for !strings.Contains(s.stderr.String(), "SIGINT: stopping") {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("no word on stderr after SIGINT: %q", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd.Process.Signal(os.Interrupt)
	code, _ := s.wait(t)
	if code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("exit %v after the first SIGINT (the process's grace is 5s)", took)
	}
	if !strings.Contains(s.stderr.String(), "nettest-run: SIGINT again: killing the processes of "+name+" at once; the teardown still completes, so that nothing is left") {
		t.Errorf("stderr does not say the second SIGINT still tears down")
	}
	if out := s.output(); strings.Contains(out, "teardown") || !strings.Contains(out, "interrupted by SIGINT: not run: ") {
		t.Errorf("the killed process failed the teardown, or no files named as not run")
	}
	nothingLeft(t, name, procs)
}
