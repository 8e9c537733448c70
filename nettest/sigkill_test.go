package nettest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/hoststate"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// sigkillHelper builds a topology, prints the inode of every namespace it
// made, says "ready" and waits to be killed.
func sigkillHelper() {
	b := nettest.NewBuilder("").Host("h1", "h2", "h3").Router("r1", "r2").
		Chain("h1", "r1", "r2", "h2").LAN("sw", []string{"r2", "h3"})
	n, err := b.Build(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// A command with children and a grandchild in a session of its own.
	marker := os.Getenv("NETTEST_SIGKILL_MARKER")
	h1, _ := n.Node("h1")
	c := h1.Command("sh", "-c", fmt.Sprintf("sleep %[1]s & setsid sh -c 'sleep %[1]s' & echo started; wait", marker))
	if err := c.Start(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitLog(ctx, regexp.MustCompile("started")); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for _, node := range append(n.Nodes(), n.Switches()...) {
		var st unix.Stat_t
		fd, err := node.NetNS()
		if err == nil {
			err = unix.Fstat(int(fd), &st)
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("netns %s net:[%d]\n", node.Name(), st.Ino)
	}
	fmt.Println("ready")
	select {}
}

// TestNoLeakAfterSIGKILL builds a topology in a child process, starts a
// command with children and a grandchild there, kills the test process with
// SIGKILL (no cleanup code runs) and proves that nothing remains: no
// process of the command, no process holding any of its namespaces, nothing
// mounted, and the host's network state as before.
func TestNoLeakAfterSIGKILL(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "sh", "sleep", "setsid")
	marker := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()%1e6+7)
	before, err := hoststate.Take()
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=sigkill", "NETTEST_SIGKILL_MARKER="+marker)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	var inodes []string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "helper exited before it was ready")
			if line == "ready" {
				break wait
			}
			require.NotContains(t, line, "error:")
			if f := strings.Fields(line); len(f) == 3 && f[0] == "netns" {
				inodes = append(inodes, f[2])
			}
		case <-timeout:
			t.Fatal("helper not ready after 30s")
		}
	}
	require.Len(t, inodes, 6, "five nodes and a switch")
	// The scan finds the namespaces while the child holds them: the check
	// below could see a leak.
	require.ElementsMatch(t, inodes, holdersOf(t, inodes, cmd.Process.Pid))
	require.Eventually(t, func() bool { return len(processesWith(t, "sleep\x00"+marker)) == 2 }, 5*time.Second, 10*time.Millisecond,
		"the command's sleeps run (the check can see them)")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed = true
	err = cmd.Wait()
	require.Error(t, err, "the helper dies of SIGKILL")

	require.Eventually(t, func() bool { return len(processesWith(t, "sleep\x00"+marker)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"the command's processes die with the test process: left %v", processesWith(t, "sleep\x00"+marker))
	// A dying process's command line is empty before it lets go of its
	// namespaces (its mount namespace, with the node's own files mounted,
	// is torn down first): wait for the last to let go.
	var held []string
	// A loaded machine can take seconds; a leak lasts for ever.
	require.Eventually(t, func() bool { held = holdersOf(t, inodes, 0); return len(held) == 0 }, 30*time.Second, 10*time.Millisecond,
		"no process holds a namespace of the killed test: held %v", &held)
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, ino := range inodes {
		require.NotContains(t, string(mounts), ino, "nothing mounts a namespace of the killed test")
	}
	after, err := hoststate.Take()
	require.NoError(t, err)
	require.Empty(t, hoststate.Diff(before, after), "the host's network state is unchanged")
}

// holdersOf returns which of the namespaces ("net:[ino]") some process
// holds, by an open file, as a thread's namespace or by a mount in a
// thread's mount namespace (nettest holds its nodes' namespaces by bind
// mounts in a mount namespace of one of its threads); pid 0 scans every
// process.
func holdersOf(t *testing.T, inodes []string, pid int) []string {
	t.Helper()
	want := map[string]bool{}
	for _, ino := range inodes {
		want[ino] = true
	}
	found := map[string]bool{}
	seenMnt := map[string]bool{}
	pattern := "/proc/[0-9]*"
	if pid != 0 {
		pattern = fmt.Sprintf("/proc/%d", pid)
	}
	procs, err := filepath.Glob(pattern)
	require.NoError(t, err)
	for _, p := range procs {
		var links []string
		fds, _ := filepath.Glob(p + "/fd/*")
		tasks, _ := filepath.Glob(p + "/task/*/ns/net")
		links = append(append(links, fds...), tasks...)
		for _, l := range links {
			if target, err := os.Readlink(l); err == nil && want[target] {
				found[target] = true
			}
		}
		mntns, _ := filepath.Glob(p + "/task/*/ns/mnt")
		for _, l := range mntns {
			mnt, err := os.Readlink(l)
			if err != nil || seenMnt[mnt] {
				continue
			}
			seenMnt[mnt] = true
			info, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(l)), "mountinfo"))
			if err != nil {
				continue
			}
			// An nsfs mount's root field is the namespace: "net:[ino]".
			for _, line := range strings.Split(string(info), "\n") {
				if f := strings.Fields(line); len(f) > 3 && want[f[3]] {
					found[f[3]] = true
				}
			}
		}
	}
	var out []string
	for ino := range found {
		out = append(out, ino)
	}
	return out
}
