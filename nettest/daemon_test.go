package nettest_test

import (
	"context"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

// genericDaemon is a daemon of the user's own: a shell that reads its
// templated configuration, says it started, and waits.
func genericDaemon(script string) nettest.DaemonSpec {
	return nettest.DaemonSpec{
		Kind:  "gen",
		Dirs:  []nettest.DaemonDir{{Path: "/run/gen", Perm: 0o750, Owner: genOwner()}},
		Files: []nettest.DaemonFile{{Path: "/etc/gen/gen.conf", Text: "name {{.Name}} id {{.RouterID}} x {{.Vars.x}}{{range .Neighbors}} nb {{.Node}}:{{.Interface}} {{.IPv4}} via {{.Local}}{{end}}\n"}},
		Procs: []nettest.DaemonProc{{Name: "gend", Args: []string{"sh", "-c", script}, Ready: []string{"test", "-f", "/run/gen/ready"}}},
		Ready: []string{"grep", "-q", "name", "/etc/gen/gen.conf"},
		CLI:   []string{"sh", "-c"},
		Vars:  map[string]string{"x": "y"},
		Grace: time.Second,
	}
}

// genOwner is the owner of the generic daemon's directory: nobody, or
// root where nobody has no ID (rootless).
func genOwner() string {
	if nettest.Rootless() {
		return "root"
	}
	return "nobody"
}

// TestDaemonGeneric: a daemon of the user's own gets its directories (with
// their owner) and templated files in the node's own directories, is
// waited for, answers commands, and Stop ends it.
func TestDaemonGeneric(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("gen").Auto(nettest.Auto{}).Host("a", "b").Link("a=10.0.1.1/24", "b=10.0.1.2/24")))
	a := node(t, n, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := a.StartDaemon(ctx, genericDaemon("echo started; touch /run/gen/ready; exec sleep 1000"))
	require.NoError(t, err)
	out, err := d.Exec(ctx, "cat /etc/gen/gen.conf; ls -ld /run/gen | cut -d' ' -f3")
	require.NoError(t, err)
	require.Equal(t, "name a id 10.0.1.1 x y nb b:eth0 10.0.1.2 via eth0\n"+genOwner()+"\n", out)
	_, err = os.Stat("/etc/gen")
	require.ErrorIs(t, err, os.ErrNotExist, "the host's /etc is untouched")
	p, err := a.FilePath("/run/gen")
	require.NoError(t, err)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	u, err := user.Lookup(genOwner())
	require.NoError(t, err)
	require.Equal(t, u.Uid, strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)))
	require.Contains(t, d.Log(), "gend: started\n")
	var report strings.Builder
	require.NoError(t, a.Report(&report))
	require.Contains(t, report.String(), "   daemons:\n     gen: gend running\n       | started\n")

	_, err = d.Exec(ctx, "echo bad; exit 3")
	require.ErrorContains(t, err, `node a: gen: "echo bad; exit 3": exit status 3: "bad"`)

	procs := d.Procs()
	require.Len(t, procs, 1)
	require.NoError(t, d.Stop())
	require.True(t, procs[0].Exited())
	require.NoError(t, d.Stop(), "again")
}

// TestDaemonStartFails: a process that ends before it is ready, a bad
// template and a missing program each fail StartDaemon with the node, the
// daemon and what failed.
func TestDaemonStartFails(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("genfail").Auto(nettest.Auto{}).Host("a", "b").Link("a=10.0.1.1/24", "b=10.0.1.2/24")))
	a := node(t, n, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := a.StartDaemon(ctx, genericDaemon("echo cannot bind; exit 4"))
	require.ErrorContains(t, err, `node a: gen: gend not ready: gend ended (exit status 4); its last output: "cannot bind"`)

	bad := genericDaemon("exec sleep 1000")
	bad.Files[0].Text = "{{.Nope}}"
	_, err = a.StartDaemon(ctx, bad)
	require.ErrorContains(t, err, "node a: gen: file /etc/gen/gen.conf: template: /etc/gen/gen.conf:1:2: executing")
	require.ErrorContains(t, err, "Nope")

	missing := genericDaemon("")
	missing.Procs[0].Args = []string{"/nonexistent/zebra"}
	_, err = a.StartDaemon(ctx, missing)
	require.ErrorContains(t, err, "node a: gen: /nonexistent/zebra: not found (is gen installed?)")

	elsewhere := genericDaemon("exec sleep 1000")
	elsewhere.Dirs[0].Path = "/opt/gen"
	_, err = a.StartDaemon(ctx, elsewhere)
	require.ErrorContains(t, err, "nettest: node a: gen: file /opt/gen: not one of the node's own files")

	slow := genericDaemon("exec sleep 1000")
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	_, err = a.StartDaemon(short, slow)
	require.ErrorContains(t, err, "node a: gen: gend not ready: test -f /run/gen/ready: context deadline exceeded")
}

// TestDaemonRouterIDFromLoopback: a node with a loopback address gives
// its daemons that address as their router-id, not its lowest link address.
func TestDaemonRouterIDFromLoopback(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("genlo").Auto(nettest.Auto{}).Host("a", "b").
		Link("a=10.0.1.1/24", "b=10.0.1.2/24").Loopback("a", "10.255.0.1")))
	a := node(t, n, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := a.StartDaemon(ctx, genericDaemon("touch /run/gen/ready; exec sleep 1000"))
	require.NoError(t, err)
	defer d.Stop()
	out, err := d.Exec(ctx, "cat /etc/gen/gen.conf")
	require.NoError(t, err)
	require.Equal(t, "name a id 10.255.0.1 x y nb b:eth0 10.0.1.2 via eth0\n", out)
}
