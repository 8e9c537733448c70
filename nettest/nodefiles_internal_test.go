package nettest

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNodeFilesFallbacks: on a kernel without overlayfs, nor binds of a
// tmpfs mounted nowhere, a node's files are in a folder of this process's
// temporary directory (removed by Close), its /etc is the host's,
// read-only, with the node's files bound over the host's, and its /run,
// /tmp, ... are still its own.
func TestNodeFilesFallbacks(t *testing.T) {
	if err := CheckPrivilege(); err != nil {
		if os.Getenv("NETTEST_REQUIRE_PRIVILEGE") == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	topo, err := NewBuilder("fallback").Host("a", "b").Link("a", "b").Topology()
	require.NoError(t, err)
	n, err := Build(context.Background(), topo)
	require.NoError(t, err)
	defer n.Close()
	root, err := os.MkdirTemp("", "nettest-files-")
	require.NoError(t, err)
	n.files.done, n.files.fd, n.files.root, n.files.overlay = true, -1, root, false
	a, _ := n.Node("a")
	b, _ := n.Node("b")

	require.NoError(t, a.WriteFile("/etc/passwd", []byte("mine:x:0:0::/:/bin/sh\n"), 0o644))
	require.NoError(t, a.WriteFile("/run/x", []byte("x\n"), 0o644))
	out, err := a.Command("sh", "-c", "exec 2>&1; cat /etc/passwd /run/x; hostname; grep -q a-eth0 /etc/hosts && echo hosts-ok; echo no 2>&1 > /etc/nettest-fallback-new && echo wrote").CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "mine:x:0:0::/:/bin/sh\nx\na\nhosts-ok\n")
	require.Contains(t, string(out), "Read-only file system")
	require.NotContains(t, string(out), "wrote")
	_, err = os.Stat("/etc/nettest-fallback-new")
	require.ErrorIs(t, err, fs.ErrNotExist)
	out, err = b.Command("sh", "-c", "cat /etc/passwd; test -e /run/x && echo has-x; true").CombinedOutput()
	require.NoError(t, err)
	require.NotContains(t, string(out), "mine:")
	require.NotContains(t, string(out), "has-x")
	host, _ := os.ReadFile("/etc/passwd")
	require.False(t, strings.Contains(string(host), "mine:"))

	require.NoError(t, n.Close())
	_, err = os.Stat(root)
	require.ErrorIs(t, err, fs.ErrNotExist, "Close left the folder")
}
