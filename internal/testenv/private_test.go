package testenv_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// helperEnv makes this test binary a helper of the tests below instead.
const helperEnv = "NETTEST_TESTENV_HELPER"

func TestMain(m *testing.M) {
	testenv.Private()
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "report":
		reportHelper()
	case "wait":
		waitHelper()
	case "artifact":
		// Writes a file in NETTEST_ARTIFACTS, then runs as a test binary.
		if err := os.WriteFile(filepath.Join(os.Getenv(fixtures.ArtifactsEnv), "artifact"), []byte("kept\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// report is what reportHelper prints, as JSON, on stdout.
type report struct {
	Args      []string // os.Args[1:]
	Mnt       string   // its mount namespace
	ParentMnt string   // its parent's
	Marker    string   // testenv.PrivateEnv
	Probe     bool     // whether the file NETTEST_TESTENV_PROBE names exists
}

// reportHelper prints a report on stdout, a line on stderr, and exits 7.
func reportHelper() {
	r := report{Args: os.Args[1:], Marker: os.Getenv(testenv.PrivateEnv)}
	r.Mnt, _ = os.Readlink("/proc/self/ns/mnt")
	r.ParentMnt, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	_, err := os.Stat(os.Getenv("NETTEST_TESTENV_PROBE"))
	r.Probe = err == nil
	json.NewEncoder(os.Stdout).Encode(r)
	fmt.Fprintln(os.Stderr, "report helper on stderr")
	os.Exit(7)
}

// waitHelper says "ready PID" and waits; on SIGTERM it says so and exits 3.
// SIGINT kills it.
func waitHelper() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("ready %d\n", os.Getpid())
	<-term
	fmt.Println("got SIGTERM")
	os.Exit(3)
}

// requirePrivate fails the test unless this binary runs in a mount
// namespace of its own; it skips it when the process cannot make one.
func requirePrivate(t *testing.T) {
	t.Helper()
	testenv.RequirePrivilege(t)
	if os.Getenv(testenv.PrivateEnv) == "" {
		t.Fatalf("this privileged test binary runs without private state: %s is not set (TestMain calls testenv.Private?)", testenv.PrivateEnv)
	}
}

// TestPrivate: this test binary runs in a mount namespace of its own, not
// its parent's, with a tmpfs over each private directory; a file made
// there is seen neither by the process that started the binary nor from
// the host's mount namespace (/proc/1/root).
func TestPrivate(t *testing.T) {
	requirePrivate(t)
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	ppid := os.Getppid()
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", ppid))
	if err != nil {
		t.Fatal(err)
	}
	if self == parent {
		t.Fatalf("this test binary runs in its parent's mount namespace %s", self)
	}
	if os.Getenv(testenv.PrivateEnv) != self {
		t.Errorf("%s=%q, want this binary's mount namespace %s", testenv.PrivateEnv, os.Getenv(testenv.PrivateEnv), self)
	}
	mounts := readMountinfo(t)
	for _, m := range mounts {
		if strings.Contains(m.optional, "shared:") {
			t.Errorf("mount %s is shared (%s): mounts made here could reach another namespace", m.point, m.optional)
		}
	}
	for _, dir := range testenv.PrivateDirs() {
		top, ok := topMount(mounts, dir)
		if !ok {
			if nettest.Rootless() && dir != "/tmp" {
				if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
					t.Logf("rootless, and the host has no %s: nothing to make private", dir)
					continue
				}
			}
			t.Errorf("%s is not a mount point of this namespace", dir)
			continue
		}
		if top.fstype != "tmpfs" {
			t.Errorf("%s is a %s mount, want tmpfs", dir, top.fstype)
		}
		f, err := os.CreateTemp(dir, "testenv-private-")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		name := filepath.Base(f.Name())
		for _, root := range []string{fmt.Sprintf("/proc/%d/root", ppid), "/proc/1/root"} {
			if _, err := os.Stat(root + "/."); err != nil {
				t.Logf("cannot look from %s: %v", root, err)
				continue
			}
			if _, err := os.Stat(root + dir + "/" + name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s made in this binary's %s is visible from %s (err %v)", name, dir, root, err)
			}
		}
		os.Remove(f.Name())
	}
}

type mount struct{ point, optional, fstype string }

func readMountinfo(t *testing.T) []mount {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 6 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		out = append(out, mount{point: fields[4], optional: strings.Join(fields[6:], " "), fstype: fstype})
	}
	return out
}

// topMount returns the last (visible) mount at point.
func topMount(mounts []mount, point string) (mount, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].point == point {
			return mounts[i], true
		}
	}
	return mount{}, false
}

// helper starts this test binary afresh (without the private marker, as go
// test would) as the given helper.
func helper(t *testing.T, name string, args []string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, testenv.PrivateEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append(env, helperEnv+"="+name)...)
	return cmd
}

// TestPrivateRunsAgain: a test binary started as go test starts it runs
// again in a new mount namespace, with the same arguments, its stdout and
// stderr, its exit code, and a /tmp of its own.
func TestPrivateRunsAgain(t *testing.T) {
	requirePrivate(t)
	self, _ := os.Readlink("/proc/self/ns/mnt")
	probe, err := os.CreateTemp("", "testenv-probe-")
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	defer os.Remove(probe.Name())

	args := []string{"-test.run=^NoSuchTest$", "-test.v=test2json", "-test.count=3", "rest", "of args"}
	cmd := helper(t, "report", args, "NETTEST_TESTENV_PROBE="+probe.Name())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("stdout: %sstderr: %s", stdout.String(), stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("helper: %v, want exit status 7", err)
	}
	if stderr.String() != "report helper on stderr\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	var r report
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("stdout: %v", err)
	}
	if strings.Join(r.Args, "|") != strings.Join(args, "|") {
		t.Errorf("arguments %q, want %q", r.Args, args)
	}
	if r.Mnt == self || r.Mnt == r.ParentMnt {
		t.Errorf("the helper runs in mount namespace %s; its parent in %s, this test in %s", r.Mnt, r.ParentMnt, self)
	}
	if r.ParentMnt != self {
		t.Errorf("the helper's parent runs in mount namespace %s, want this test's %s", r.ParentMnt, self)
	}
	if r.Marker != r.Mnt {
		t.Errorf("%s=%q in the helper, want %s", testenv.PrivateEnv, r.Marker, r.Mnt)
	}
	if r.Probe {
		t.Errorf("the helper sees %s: its /tmp is not its own", probe.Name())
	}
}

// TestPrivateKeepsOutputs: files a test binary writes under /tmp for go
// test (profiles, here one right in /tmp and one in -test.outputdir) or
// in NETTEST_ARTIFACTS reach the /tmp of whoever started it, not only the
// binary's private one.
func TestPrivateKeepsOutputs(t *testing.T) {
	requirePrivate(t)
	cpu := filepath.Join(os.TempDir(), fmt.Sprintf("testenv-cpu-%d.out", os.Getpid()))
	defer os.Remove(cpu)
	outdir := t.TempDir()
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	cmd := helper(t, "artifact", []string{"-test.run=^$", "-test.cpuprofile=" + cpu, "-test.outputdir", outdir, "-test.memprofile", "mem.out"},
		fixtures.ArtifactsEnv+"="+artifacts)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, path := range []string{cpu, filepath.Join(outdir, "mem.out"), filepath.Join(artifacts, "artifact")} {
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("%s not written here (stat: %v)", path, err)
		}
	}
}

// startWait starts the wait helper and returns it with the PID of the
// private binary it runs.
func startWait(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	cmd := helper(t, "wait", []string{"-test.run=^$"})
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("the wait helper said nothing: %v", sc.Err())
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ready "))
	if err != nil || pid == cmd.Process.Pid {
		t.Fatalf("the wait helper said %q (its first process is %d)", sc.Text(), cmd.Process.Pid)
	}
	go func() {
		for sc.Scan() {
			t.Logf("wait helper: %s", sc.Text())
		}
	}()
	return cmd, pid
}

// TestPrivateSignals: SIGTERM and SIGINT sent to the test binary reach the
// private one (which exits as it would have), and SIGKILL of the test
// binary kills the private one too.
func TestPrivateSignals(t *testing.T) {
	requirePrivate(t)

	t.Run("SIGTERM handled", func(t *testing.T) {
		cmd, _ := startWait(t)
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("after SIGTERM: %v, want exit status 3", err)
		}
	})

	t.Run("SIGINT kills", func(t *testing.T) {
		if signal.Ignored(syscall.SIGINT) {
			t.Skip("skipping: this test process was started with SIGINT ignored, and so are its helpers")
		}
		cmd, _ := startWait(t)
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Fatalf("after SIGINT: %v, want signal: interrupt", cmd.ProcessState)
		}
	})

	t.Run("SIGKILL kills both", func(t *testing.T) {
		cmd, pid := startWait(t)
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pidfd)
		cmd.Process.Kill()
		cmd.Wait()
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 5000)
		if err != nil || n != 1 {
			t.Fatalf("the private binary %d is still running 5s after its parent was killed (poll: %d, %v)", pid, n, err)
		}
	})
}
