package nettest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// TestCleanPersistedRemovesOnlyOurs: CleanPersisted removes what nettest
// recorded persisting and nothing else — not a namespace of another tool,
// not one that merely has nettest's prefix (`ip netns add nettest-decoy.n1`),
// and not one put in the place of a persisted one since.
func TestCleanPersistedRemovesOnlyOurs(t *testing.T) {
	testenv.LockHostState(t)
	skipRootless(t)
	topo := seedTopology()
	topo.Name = fmt.Sprintf("clean%d", os.Getpid())
	n := build(t, topo)
	_, err := n.Persist()
	require.NoError(t, err)
	t.Cleanup(func() { _ = nettest.RemovePersisted(topo.Name) })

	// Namespaces another tool or a user might have made: this test makes
	// them (as `ip netns add` does) and removes them itself.
	other := filepath.Join(nettest.NetnsDir, fmt.Sprintf("othertool-%d", os.Getpid()))
	mountNewNamespace(t, other)
	decoyName := nettest.PersistedName(fmt.Sprintf("decoy%d", os.Getpid()), "n1")
	decoy := filepath.Join(nettest.NetnsDir, decoyName)
	mountNewNamespace(t, decoy)

	removed, skipped, err := nettest.CleanPersisted()
	require.NoError(t, err)
	require.Subset(t, removed, []string{nettest.PersistedName(topo.Name, "red"), nettest.PersistedName(topo.Name, "blue")})
	require.NotContains(t, removed, decoyName)
	for _, p := range []string{other, decoy} {
		_, err = os.Stat(p)
		require.NoError(t, err, "%s survives", p)
		h, err := netns.GetFromPath(p)
		require.NoError(t, err)
		h.Close()
	}
	var reason string
	for _, s := range skipped {
		if s.Name == decoyName {
			reason = s.Reason
		}
	}
	require.Contains(t, reason, "no record", "clean says why it left %s alone: %+v", decoyName, skipped)
}

// TestRemovePersistedOnlyTheRecordedNamespace: a name under /run/netns
// that holds another namespace than the one recorded (someone deleted ours
// and made their own with the same name) is left alone by RemovePersisted
// and refused by Attach.
func TestRemovePersistedOnlyTheRecordedNamespace(t *testing.T) {
	testenv.LockHostState(t)
	skipRootless(t)
	topo := seedTopology()
	topo.Name = fmt.Sprintf("replaced%d", os.Getpid())
	n := build(t, topo)
	_, err := n.Persist()
	require.NoError(t, err)
	t.Cleanup(func() { _ = nettest.RemovePersisted(topo.Name) })

	red := filepath.Join(nettest.NetnsDir, nettest.PersistedName(topo.Name, "red"))
	require.NoError(t, unix.Unmount(red, unix.MNT_DETACH))
	require.NoError(t, os.Remove(red))
	mountNewNamespace(t, red) // someone else's, under our old name

	_, err = nettest.Attach(topo, topo.Name)
	require.ErrorContains(t, err, "not the namespace nettest persisted")

	list, err := nettest.ListPersisted()
	require.NoError(t, err)
	require.Equal(t, []string{"blue"}, list[topo.Name])

	require.NoError(t, nettest.RemovePersisted(topo.Name))
	_, err = os.Stat(red)
	require.NoError(t, err, "the replacement survives")
	_, err = os.Stat(filepath.Join(nettest.NetnsDir, nettest.PersistedName(topo.Name, "blue")))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestRemovePersistedWithoutRecord: a namespace with nettest's prefix but
// no record is not nettest's to remove, and the name cannot be a path.
func TestRemovePersistedWithoutRecord(t *testing.T) {
	testenv.LockHostState(t)
	skipRootless(t)
	topo := fmt.Sprintf("decoy%d", os.Getpid())
	decoy := filepath.Join(nettest.NetnsDir, nettest.PersistedName(topo, "n1"))
	mountNewNamespace(t, decoy)
	require.ErrorIs(t, nettest.RemovePersisted(topo), nettest.ErrNotPersisted)
	_, err := os.Stat(decoy)
	require.NoError(t, err)
	require.ErrorContains(t, nettest.RemovePersisted("../../tmp/x"), "not allowed")
	_, err = nettest.Attach(seedTopology(), topo)
	require.ErrorContains(t, err, "no record")
}

// mountNewNamespace makes a named namespace the way ip-netns(8) does, and
// removes it when the test ends.
func mountNewNamespace(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL, 0o444)
	require.NoError(t, err)
	f.Close()
	onThrowawayNamespace(t, func() {
		if err := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "none", unix.MS_BIND, ""); err != nil {
			t.Errorf("mounting a namespace on %s: %v", path, err)
		}
	})
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

// TestPersistThenIPNetnsAdd: where /run/netns is a plain folder, Persist
// makes it a shared mount point as ip-netns(8) does, so that a later
// `ip netns add` does not bind the folder over nettest's mounts (which
// left names that could not be removed: "device or resource busy").
func TestPersistThenIPNetnsAdd(t *testing.T) {
	skipRootless(t)
	testenv.RequireTools(t, "ip")
	// This test binary runs in a mount namespace of its own: a tmpfs over
	// /run here hides nothing of the host's, and /run/netns in it is a
	// plain folder, as on a machine where no namespace was ever named.
	require.NoError(t, unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"))
	t.Cleanup(func() { unix.Unmount("/run", unix.MNT_DETACH) })
	require.NoError(t, os.MkdirAll(nettest.NetnsDir, 0o755))

	topo := seedTopology()
	topo.Name = fmt.Sprintf("shared%d", os.Getpid())
	n := build(t, topo)
	_, err := n.Persist()
	require.NoError(t, err)
	decoy := nettest.PersistedName(fmt.Sprintf("decoy%d", os.Getpid()), "n1")
	out, err := exec.Command("ip", "netns", "add", decoy).CombinedOutput()
	require.NoError(t, err, "ip netns add: %s", out)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", decoy).Run() })

	require.NoError(t, nettest.RemovePersisted(topo.Name))
	list, err := nettest.ListPersisted()
	require.NoError(t, err)
	require.Empty(t, list)
	entries, err := os.ReadDir(nettest.NetnsDir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the decoy is left under %s", nettest.NetnsDir)
	require.Equal(t, decoy, entries[0].Name())
}
