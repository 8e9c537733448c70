package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// decoy makes a namespace with `ip netns add` under the given name, as a
// user or another tool would, and removes it when the test ends.
func decoy(t *testing.T, name string) string {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	return filepath.Join(nettest.NetnsDir, name)
}

// alive checks that a decoy namespace is still there and usable.
func stillThere(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", name, "true").CombinedOutput(); err != nil {
		t.Errorf("namespace %s does not survive: %v %s", name, err, out)
	}
}

// TestCleanAndDownLeaveLookalikes: namespaces that merely carry nettest's
// prefix (`ip netns add nettest-decoy.n1`) are not nettest's: clean leaves
// them and says why, down of their "topology" refuses, and a lab that is
// up next to them is cleaned all the same.
func TestCleanAndDownLeaveLookalikes(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "ip", "sleep")
	d1 := nettest.PersistedName(uniq("decoy"), "n1")
	d2 := nettest.PersistedName(uniq("decoyb"), "n1")
	decoy(t, d1)
	decoy(t, d2)
	name := uniq("withdecoys")
	t.Cleanup(func() { cli(t, "", "down", name) })
	if _, _, code := cli(t, "", "up", "--set", "NAME="+name, scenarioFile(t, "lab.yaml", labYAML)); code != 0 {
		t.Fatalf("up: exit %d", code)
	}

	_, errOut, code := cli(t, "", "down", uniq("decoyb"))
	if code != 2 || !strings.Contains(errOut, "no topology") {
		t.Errorf("down of a lookalike: exit %d, want 2 and no topology", code)
	}
	stillThere(t, d2)

	out, _, code := cli(t, "", "clean")
	if code != 0 || !strings.Contains(out, "removed "+name+"\n") {
		t.Errorf("clean: exit %d, want 0 and %s removed", code, name)
	}
	for _, d := range []string{d1, d2} {
		if !strings.Contains(out, "left alone: namespace "+d+": no record") {
			t.Errorf("clean does not say it left %s alone, and why", d)
		}
		if strings.Contains(out, "removed namespace "+d) {
			t.Errorf("clean says it removed %s", d)
		}
		stillThere(t, d)
	}
	noLeftovers(t, name)
}

// TestDownTakesNoPath: down's argument is a name by the scenario-name
// rule; anything else exits 2 having read and touched nothing.
func TestDownTakesNoPath(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.MkdirAll(victim, 0o755)
	os.WriteFile(filepath.Join(victim, "keep"), []byte("x"), 0o644)
	// A state file outside nettest's state that names the victim.
	st, _ := json.Marshal(map[string]any{"name": "x", "files_dir": victim, "complete": true})
	os.WriteFile(filepath.Join(dir, "x.json"), st, 0o644)
	rel, err := filepath.Rel(lab.Dir, filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{rel, "../x", "a/b", "..", ".", "-x", "x.json", strings.Repeat("a", 33), ""} {
		_, errOut, code := cli(t, "", "down", "--", arg)
		if code != 2 || !strings.Contains(errOut, "topology") {
			t.Errorf("down -- %q: exit %d, want 2 and a message about the name", arg, code)
		}
	}
	if _, errOut, code := cli(t, "", "down", "-x"); code != 2 || !strings.Contains(errOut, "unknown shorthand flag: 'x'") {
		t.Errorf("down -x: exit %d, want 2 and unknown flag", code)
	}
	for _, p := range []string{filepath.Join(dir, "x.json"), filepath.Join(victim, "keep")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestStateNamesNoOutsidePath: a state file whose process folders lie
// outside the lab's own folder is refused, not followed.
func TestStateNamesNoOutsidePath(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "nettest's state folder")
	name := uniq("forged")
	victim := t.TempDir()
	st := &lab.State{Name: name, Complete: true, Processes: []lab.Process{{Name: "p", Dir: victim}}}
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(lab.Path(name)) })
	if _, err := lab.Read(name); err == nil || !strings.Contains(err.Error(), "is not inside") {
		t.Errorf("readState of a forged file: %v", err)
	}
	cli(t, "", "down", name)
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("down followed a forged path: %v", err)
	}
}

// slowLab has a process that never becomes ready, so up waits for it.
const slowLab = `name: ${NAME}
params: {NAME: slow}
topology:
  nodes: [h1, h2]
  links:
    - endpoints: [h1, h2]
  processes:
    - name: waiter
      node: h1
      command: [sleep, "600"]
      ready: {file: "${FILES}/never", within: 60s}
`

// startUp starts up on slowLab in the background and returns once its
// process has been recorded (up is then waiting for it to be ready).
func startUp(t *testing.T, name string) (*exec.Cmd, *lab.State) {
	t.Helper()
	cmd := exec.Command(bin, "up", "--set", "NAME="+name, scenarioFile(t, "slow.yaml", slowLab))
	if bin == "" {
		cmd = exec.Command(os.Args[0], "up", "--set", "NAME="+name, scenarioFile(t, "slow.yaml", slowLab))
		cmd.Env = append(os.Environ(), runAsCLI+"=1")
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// Recorded, and past the shim's handshake: the shim (the recorded
		// process) has started its command. Before that word a shim
		// whose supervisor dies exits, as it must.
		if st, err := lab.Read(name); err == nil && len(st.Processes) == 1 && st.Processes[0].Alive() && hasChild(st.Processes[0].PID) {
			return cmd, st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("up never recorded its process:\n%s", out.String())
	return nil, nil
}

// hasChild reports whether process pid has a child process.
func hasChild(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return err == nil && len(strings.TrimSpace(string(b))) > 0
}

// TestUpInterrupted: SIGINT or SIGTERM while up waits for a process leaves
// nothing, at once, with exit 130 or 143, and so does SIGKILL of up (its
// supervisor sees it end); SIGKILL of the supervisor leaves a record that
// the next clean reaps, process and all.
func TestUpInterrupted(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "sleep")
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			name := uniq("intr" + fmt.Sprint(int(tc.sig)))
			cmd, st := startUp(t, name)
			t0 := time.Now()
			cmd.Process.Signal(tc.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("up after %v: %v, want exit %d", tc.sig, err, tc.code)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("up took %v to stop", d)
			}
			if st.Processes[0].Alive() {
				t.Errorf("process %d outlived the interrupted up", st.Processes[0].PID)
			}
			noLeftovers(t, name)
		})
	}
	t.Run("SIGKILL", func(t *testing.T) {
		// up killed: its supervisor sees it go and removes what it made.
		name := uniq("killed")
		cmd, st := startUp(t, name)
		cmd.Process.Kill()
		cmd.Wait()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && (st.Owner.Alive() || st.Processes[0].Alive()); time.Sleep(20 * time.Millisecond) {
		}
		if st.Owner.Alive() || st.Processes[0].Alive() {
			t.Errorf("the supervisor (pid %d) or its process (pid %d) outlived the killed up by 20s", st.Owner.PID, st.Processes[0].PID)
		}
		noLeftovers(t, name)
	})
	t.Run("SIGKILL supervisor", func(t *testing.T) {
		// The supervisor killed while up waits (stopped, so that it
		// cannot clean up either): the record stays for clean to reap.
		name := uniq("killedsv")
		cmd, st := startUp(t, name)
		cmd.Process.Signal(syscall.SIGSTOP)
		syscall.Kill(st.Owner.PID, syscall.SIGKILL)
		cmd.Process.Kill()
		cmd.Wait()
		if !st.Processes[0].Alive() {
			t.Fatalf("the detached process died with its supervisor: this test cannot tell if clean reaps it")
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && st.Owner.Alive(); time.Sleep(20 * time.Millisecond) {
		}
		if out, _, _ := cli(t, "", "status"); !strings.Contains(out, "not fully brought up") {
			t.Errorf("status does not say %s is half made", name)
		}
		_, errOut, code := cli(t, "", "exec", name, "h1", "--", "true")
		if code != 2 || !strings.Contains(errOut, "not fully brought up") {
			t.Errorf("exec into a half-made lab: exit %d", code)
		}
		out, _, code := cli(t, "", "clean")
		if code != 0 || !strings.Contains(out, "removed "+name+" (left by an interrupted up") {
			t.Errorf("clean: exit %d", code)
		}
		if st.Processes[0].Alive() {
			t.Errorf("clean left the process of a killed up running")
		}
		noLeftovers(t, name)
	})
}

// TestRunKilledScratchReaped: a run killed with SIGKILL leaves its scratch
// folder, which the next clean (or run) removes; a folder with the same
// prefix that carries no owner record of nettest's is left alone.
func TestRunKilledScratchReaped(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "sleep")
	tmp := t.TempDir()
	os.Chmod(tmp, 0o755)
	foreign := filepath.Join(tmp, "nettest-run-someone-else")
	os.Mkdir(foreign, 0o755)
	file := scenarioFile(t, "wait.yaml", "name: waits\ntopology:\n  nodes: [a, b]\n  links:\n    - endpoints: [a, b]\n  processes:\n    - {name: w, node: a, command: [sleep, \"600\"], ready: {log: \"^never$\", within: 60s}}\n")
	cmd := exec.Command(bin, "run", file)
	if bin == "" {
		cmd = exec.Command(os.Args[0], "run", file)
		cmd.Env = append(os.Environ(), runAsCLI+"=1")
	}
	cmd.Env = append(cmd.Environ(), "TMPDIR="+tmp)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "=== waits") {
	}
	var scratch []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(scratch) == 0; time.Sleep(20 * time.Millisecond) {
		scratch, _ = filepath.Glob(filepath.Join(tmp, "nettest-run-waits-*", owner.MarkerFile))
	}
	if len(scratch) != 1 {
		t.Fatalf("the run made no scratch folder with an owner record in %s", tmp)
	}
	cmd.Process.Kill()
	cmd.Wait()

	clean := exec.Command(cmd.Path, "clean")
	clean.Env = cmd.Env
	out, err := clean.CombinedOutput()
	t.Logf("clean:\n%s", out)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	dir := filepath.Dir(scratch[0])
	if !strings.Contains(string(out), "removed "+dir+" (scratch of a run that was killed)") {
		t.Errorf("clean does not say it removed %s", dir)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s survives clean", dir)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("clean removed %s, which carries no owner record: %v", foreign, err)
	}
}

// TestUpRootless: rootless, up cannot name namespaces under /run/netns and
// exits 2 (cannot run) having made nothing, as the README says.
func TestUpRootless(t *testing.T) {
	testenv.RequirePrivilege(t)
	if !nettest.Rootless() {
		t.Skip("skipping: runs only rootless (unshare --user --map-root-user --net)")
	}
	_, errOut, code := cli(t, "", "up", "--set", "NAME="+uniq("rootless"), scenarioFile(t, "lab.yaml", labYAML))
	if code != 2 || !strings.Contains(errOut, "rootless") {
		t.Errorf("rootless up: exit %d, want 2 and why", code)
	}
}
