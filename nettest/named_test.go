package nettest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestPersist names a topology's namespaces under /run/netns, reaches them
// with ip(8), keeps them after Close, and removes them.
func TestPersist(t *testing.T) {
	testenv.LockHostState(t)
	skipRootless(t)
	topo := seedTopology()
	topo.Name = fmt.Sprintf("persist%d", os.Getpid())
	n := build(t, topo)
	names, err := n.Persist()
	require.NoError(t, err)
	red := nettest.PersistedName(topo.Name, "red")
	require.ElementsMatch(t, []string{red, nettest.PersistedName(topo.Name, "blue")}, names)
	t.Cleanup(func() { _ = nettest.RemovePersisted(topo.Name) })

	again, err := n.Persist()
	require.NoError(t, err)
	require.Equal(t, names, again, "persisting twice is a no-op")

	list, err := nettest.ListPersisted()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"blue", "red"}, list[topo.Name])

	require.NoError(t, n.Close())
	// The namespace outlives the Network: ip(8) finds veth-red in it.
	if _, err := exec.LookPath("ip"); err == nil {
		out, err := exec.Command("ip", "-n", red, "-br", "addr", "show", "veth-red").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "10.1.1.1/24")
	}
	h, err := netns.GetFromPath(filepath.Join(nettest.NetnsDir, red))
	require.NoError(t, err)
	h.Close()

	require.NoError(t, nettest.RemovePersisted(topo.Name))
	_, err = os.Stat(filepath.Join(nettest.NetnsDir, red))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, nettest.RemovePersisted(topo.Name), "no persisted topology")
}

// TestCleanPersistedRemovesOnlyOurs: a namespace named without nettest's
// prefix survives CleanPersisted.
func TestCleanPersistedRemovesOnlyOurs(t *testing.T) {
	testenv.LockHostState(t)
	skipRootless(t)
	topo := seedTopology()
	topo.Name = fmt.Sprintf("clean%d", os.Getpid())
	n := build(t, topo)
	_, err := n.Persist()
	require.NoError(t, err)
	t.Cleanup(func() { _ = nettest.RemovePersisted(topo.Name) })

	// A namespace another tool might have made: this test makes it (as
	// `ip netns add` does) and removes it itself.
	other := filepath.Join(nettest.NetnsDir, fmt.Sprintf("othertool-%d", os.Getpid()))
	mountNewNamespace(t, other)

	removed, err := nettest.CleanPersisted()
	require.NoError(t, err)
	require.Subset(t, removed, []string{nettest.PersistedName(topo.Name, "red"), nettest.PersistedName(topo.Name, "blue")})
	for _, r := range removed {
		require.True(t, strings.HasPrefix(r, nettest.NamePrefix), r)
	}
	_, err = os.Stat(other)
	require.NoError(t, err, "a namespace without nettest's prefix survives")
	h, err := netns.GetFromPath(other)
	require.NoError(t, err)
	h.Close()
}

// mountNewNamespace makes a named namespace the way ip-netns(8) does, and
// removes it when the test ends.
func mountNewNamespace(t *testing.T, path string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			errc <- err
			return
		}
		f.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "none", unix.MS_BIND, "")
	}()
	require.NoError(t, <-errc)
	t.Cleanup(func() {
		require.NoError(t, unix.Unmount(path, unix.MNT_DETACH))
		require.NoError(t, os.Remove(path))
	})
}

// skipRootless skips tests of what needs root in the host's user namespace.
func skipRootless(t *testing.T) {
	t.Helper()
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
}

// TestPersistRootless: rootless, Persist says why it cannot.
func TestPersistRootless(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	if !nettest.Rootless() {
		t.Skip("skipping: runs only rootless (unshare --user --map-root-user --net)")
	}
	n := build(t, seedTopology())
	_, err := n.Persist()
	require.ErrorIs(t, err, nettest.ErrPrivilege)
	require.ErrorContains(t, err, "runs rootless")
}
