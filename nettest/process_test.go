package nettest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	testenv.RequireTools(t, tools...)
}

// TestCommandSeesItsNode: a command runs in the node's network namespace,
// with the node's name as hostname, the topology in /etc/hosts (v4 and v6),
// the node's interfaces in /sys and only its own processes in /proc.
func TestCommandSeesItsNode(t *testing.T) {
	requireTools(t, "sh", "hostname", "getent", "ls", "ps")
	n := build(t, mustTopology(t, nettest.NewBuilder("cmd").Host("a", "b").Router("r").Chain("a", "r", "b")))
	a := node(t, n, "a")
	run := func(args ...string) string {
		t.Helper()
		out, err := a.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	require.Equal(t, "a", run("hostname"))
	require.Contains(t, run("getent", "ahostsv4", "b"), addr(t, n, "b", nettest.IPv4).String())
	require.Contains(t, run("getent", "ahostsv6", "r-eth1"), addr(t, n, "r:eth1", nettest.IPv6).String())
	require.Equal(t, "eth0\nlo", run("ls", "/sys/class/net"))
	require.Equal(t, "nettest-shim:a", strings.TrimRight(run("cat", "/proc/1/cmdline"), "\x00"), "a PID namespace of its own, nettest's shim as init")
	// Names resolve for the command's own lookups: ping by name.
	if _, err := os.Stat("/usr/bin/ping"); err == nil {
		run("ping", "-c1", "-W2", "b")
	}
}

// TestCommandExitStatus: Run reports the command's own status.
func TestCommandExitStatus(t *testing.T) {
	requireTools(t, "sh")
	n := build(t, seedTopology())
	red := node(t, n, "red")
	err := red.Command("sh", "-c", "echo out; echo err >&2; exit 3").Run()
	var ee *nettest.ExitError
	require.ErrorAs(t, err, &ee)
	require.EqualError(t, err, "red: /usr/bin/sh -c echo out; echo err >&2; exit 3: exit status 3")
	out, err := red.Command("sh", "-c", "echo out; echo err >&2").CombinedOutput()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"out", "err"}, strings.Fields(string(out)))
	err = red.Command("/nonexistent/program").Run()
	require.EqualError(t, err, "nettest: node red: /nonexistent/program: no such file or directory")
	err = red.Command("no-such-program-anywhere").Run()
	require.ErrorContains(t, err, `executable file not found in $PATH`)
}

// TestCommandStopIgnoringSIGTERM: a daemon that ignores SIGTERM is killed
// after the grace period, and Stop does not report that as its failure.
func TestCommandStopIgnoringSIGTERM(t *testing.T) {
	requireTools(t, "sh", "sleep")
	n := build(t, seedTopology())
	c := node(t, n, "red").Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done")
	require.NoError(t, c.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.WaitLog(ctx, regexp.MustCompile("^ready$")))
	start := time.Now()
	require.NoError(t, c.Stop(300*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "SIGTERM was ignored, so the grace period ran out")
	require.True(t, c.Exited())
	// A command that honours SIGTERM stops at once.
	c = node(t, n, "red").Command("sleep", "1000")
	require.NoError(t, c.Start())
	start = time.Now()
	require.NoError(t, c.Stop(10*time.Second))
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestCommandLeavesNoGrandchildren: a command that forks children and
// grandchildren (detached, in new sessions) leaves none when it is stopped.
func TestCommandLeavesNoGrandchildren(t *testing.T) {
	requireTools(t, "sh", "sleep", "setsid")
	n := build(t, seedTopology())
	marker := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()%1e6)
	c := node(t, n, "red").Command("sh", "-c", fmt.Sprintf(
		"setsid sh -c 'sleep %[1]s & sleep %[1]s' & (sleep %[1]s &) ; echo ready; wait", marker))
	require.NoError(t, c.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.WaitLog(ctx, regexp.MustCompile("ready")))
	require.Eventually(t, func() bool { return len(processesWith(t, "sleep\x00"+marker)) == 3 }, 5*time.Second, 10*time.Millisecond,
		"the three sleeps run (the check can see them)")
	require.NoError(t, c.Stop(time.Second))
	require.Eventually(t, func() bool { return len(processesWith(t, "sleep\x00"+marker)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"left behind: %v", processesWith(t, "sleep\x00"+marker))
}

// processesWith returns the PIDs of processes whose command line starts
// with s (NUL-separated arguments).
func processesWith(t *testing.T, s string) []string {
	t.Helper()
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(d + "/cmdline")
		if err == nil && strings.HasPrefix(string(cmdline), s) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

// TestCommandLeavesHostEtcAlone: the host's /etc/hosts is the same before
// and after commands that saw the topology's.
func TestCommandLeavesHostEtcAlone(t *testing.T) {
	requireTools(t, "cat")
	before := checksum(t, "/etc/hosts")
	n := build(t, seedTopology())
	out, err := node(t, n, "red").Command("cat", "/etc/hosts").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "10.1.1.2\tblue blue-veth-blue")
	require.Equal(t, before, checksum(t, "/etc/hosts"))
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	require.NotContains(t, string(mounts), " /etc/hosts ", "nothing is mounted on the host's /etc/hosts")
}

func checksum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// TestCommandReadiness: WaitTCP, WaitFile and WaitLog return when the
// command is ready, and say what they last saw when it never is.
func TestCommandReadiness(t *testing.T) {
	requireTools(t, "sh", "sleep", "touch")
	n := build(t, seedTopology())
	blue := node(t, n, "blue")
	var ln net.Listener
	require.NoError(t, blue.Do(func() (err error) {
		ln, err = net.Listen("tcp", "10.1.1.2:0")
		return err
	}))
	defer ln.Close()
	file := filepath.Join(t.TempDir(), "ready")
	c := blue.Command("sh", "-c", "sleep 0.2; echo listening on 8080; touch "+file+"; sleep 100")
	require.NoError(t, c.Start())
	defer c.Stop(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.WaitLog(ctx, regexp.MustCompile(`listening on \d+`)))
	require.NoError(t, c.WaitFile(ctx, file))
	require.NoError(t, c.WaitTCP(ctx, ln.Addr().String()))

	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	err := c.WaitLog(short, regexp.MustCompile("never"))
	require.ErrorContains(t, err, `no output line matched "never": context deadline exceeded; last line: "listening on 8080"`)
	short, cancel3 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel3()
	err = c.WaitTCP(short, "10.1.1.2:9")
	require.ErrorContains(t, err, "waiting for a listener on 10.1.1.2:9")
	require.ErrorContains(t, err, "connection refused")

	done := blue.Command("sh", "-c", "echo bye")
	require.NoError(t, done.Start())
	err = done.WaitFile(context.Background(), filepath.Join(t.TempDir(), "never"))
	require.ErrorContains(t, err, `the command ended first (<nil>); last output: "bye"`)
}

// TestCloseStopsCommands: Close ends commands still running.
func TestCloseStopsCommands(t *testing.T) {
	requireTools(t, "sleep")
	n := build(t, seedTopology())
	marker := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()%1e6+1)
	c := node(t, n, "red").Command("sleep", marker)
	require.NoError(t, c.Start())
	require.NoError(t, n.Close())
	require.True(t, c.Exited())
	require.Empty(t, processesWith(t, "sleep\x00"+marker))
}

// TestCommandRestart: a stopped command starts again from its Clone.
func TestCommandRestart(t *testing.T) {
	requireTools(t, "sh", "sleep")
	n := build(t, seedTopology())
	c := node(t, n, "red").Command("sh", "-c", "echo started; exec sleep 1000")
	require.NoError(t, c.Start())
	require.NoError(t, c.Stop(time.Second))
	again := c.Clone()
	require.NoError(t, again.Start())
	defer again.Stop(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, again.WaitLog(ctx, regexp.MustCompile("^started$")))
	require.NotEqual(t, c.Pid(), again.Pid())
}

// TestCommandOutputExact: Stdout gets the bytes as the command wrote them:
// no added newline, carriage returns kept, long lines whole.
func TestCommandOutputExact(t *testing.T) {
	requireTools(t, "printf", "head", "tr")
	n := build(t, seedTopology())
	red := node(t, n, "red")
	out, err := red.Command("printf", "abc").Output()
	require.NoError(t, err)
	require.Equal(t, "abc", string(out))
	out, err = red.Command("printf", `x\r\ny`).Output()
	require.NoError(t, err)
	require.Equal(t, "x\r\ny", string(out))
	out, err = red.Command("sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' a").Output()
	require.NoError(t, err)
	require.Len(t, out, 2000000, "a 2MB line arrives whole")
	c := red.Command("sh", "-c", "printf 'one\\ntwo'")
	require.NoError(t, c.Run())
	require.Equal(t, "one\ntwo\n", c.Log(), "the log keeps lines, the last one too")
}

// TestCommandSignals: every signal reaches the command's process group;
// SIGSTOP stops it, SIGCONT resumes it, SIGQUIT does not upset nettest's
// init process.
func TestCommandSignals(t *testing.T) {
	requireTools(t, "sh", "sleep")
	n := build(t, seedTopology())
	c := node(t, n, "red").Command("sh", "-c", `trap 'echo got QUIT' QUIT; trap 'echo got USR1' USR1; echo ready; while :; do echo tick; sleep 0.05; done`)
	require.NoError(t, c.Start())
	defer c.Stop(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.WaitLog(ctx, regexp.MustCompile("^ready$")))
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGUSR1} {
		require.NoError(t, c.Signal(sig))
		require.NoError(t, c.WaitLog(ctx, regexp.MustCompile("^got "+map[syscall.Signal]string{syscall.SIGQUIT: "QUIT", syscall.SIGUSR1: "USR1"}[sig]+"$")))
	}
	require.NoError(t, c.Signal(syscall.SIGSTOP))
	time.Sleep(100 * time.Millisecond)
	before := strings.Count(c.Log(), "tick")
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, before, strings.Count(c.Log(), "tick"), "stopped: no ticks")
	require.NoError(t, c.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool { return strings.Count(c.Log(), "tick") > before }, 5*time.Second, 20*time.Millisecond)
	require.False(t, c.Exited())
}

// TestCommandFilesAndResolver: no descriptor of nettest's leaks into the
// command, and its resolver sends no query out of the node.
func TestCommandFilesAndResolver(t *testing.T) {
	requireTools(t, "ls", "cat")
	n := build(t, seedTopology())
	red := node(t, n, "red")
	out, err := red.Command("ls", "-l", "/proc/self/fd").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[len(f)-2] != "->" {
			continue
		}
		fd, target := f[len(f)-3], f[len(f)-1]
		// nettest passes the shim the namespace (3), the status pipe (4)
		// and the hosts file (5); none may reach the command. (Other
		// descriptors may come from whoever started this test binary.)
		require.NotContains(t, []string{"4", "5"}, fd, "%s -> %s", fd, target)
		require.NotContains(t, target, "net:[")
		require.NotContains(t, target, "memfd:")
	}
	out, err = red.Command("cat", "/etc/resolv.conf").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "nameserver 127.0.0.1")
}

// TestCloseDuringStart: Close racing a command's start neither hangs nor
// leaves the command running.
func TestCloseDuringStart(t *testing.T) {
	requireTools(t, "sleep")
	for i := range 10 {
		n, err := nettest.Build(context.Background(), seedTopology())
		require.NoError(t, err)
		c := node(t, n, "red").Command("sleep", "1000")
		started := make(chan error, 1)
		go func() { started <- c.Start() }()
		time.Sleep(time.Duration(i) * 300 * time.Microsecond)
		closed := make(chan error, 1)
		go func() { closed <- n.Close() }()
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close hangs", i)
		}
		if err := <-started; err == nil {
			require.True(t, c.Exited(), "round %d: Close ended the command", i)
		}
	}
}
