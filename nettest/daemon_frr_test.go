package nettest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// ospfConf is an frr.conf template: OSPF on every interface, fast timers.
const ospfConf = `frr defaults traditional
hostname {{.Name}}
{{range .Interfaces}}interface {{.Name}}
 ip ospf network point-to-point
 ip ospf hello-interval 1
 ip ospf dead-interval 4
{{end}}router ospf
 ospf router-id {{.RouterID}}
{{range .Interfaces}}{{range .IPv4}} network {{.Masked}} area 0
{{end}}{{end}}`

// daemonPids returns the host's PIDs of the programs the daemon's shims
// run.
func daemonPids(t testing.TB, d *nettest.Daemon) []int {
	var pids []int
	for _, c := range d.Procs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.Pid(), c.Pid()))
		require.NoError(t, err)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive returns those of pids that still run the named programs.
func alive(pids []int, names ...string) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && slices.Contains(names, strings.TrimSpace(string(b))) {
			out = append(out, pid)
		}
	}
	return out
}

func lsHost(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFRRDefaultPaths: FRR started as a user would (a config, a call per
// router: no path flags, no chmod) runs OSPF between two routers, with its
// files in the nodes' own /etc, /run and /var/tmp; the host's are
// untouched, and Stop leaves no daemon.
func TestFRRDefaultPaths(t *testing.T) {
	testenv.RequireFRR(t, "ospfd")
	_, err := os.Stat("/var/tmp/frr")
	varTmpBefore := err == nil
	runBefore := lsHost("/run/frr")
	n := build(t, mustTopology(t, nettest.NewBuilder("frr").Auto(nettest.Auto{}).
		Host("h1", "h2").Router("r1", "r2").
		Link("h1=10.0.1.1/24", "r1=10.0.1.2/24").
		Link("r1=10.0.2.1/24", "r2=10.0.2.2/24").
		Link("r2=10.0.3.1/24", "h2=10.0.3.2/24")))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ds []*nettest.Daemon
	var pids []int
	for _, name := range []string{"r1", "r2"} {
		d, err := node(t, n, name).StartDaemon(ctx, nettest.FRR(ospfConf, "ospfd"))
		require.NoError(t, err)
		ds = append(ds, d)
		pids = append(pids, daemonPids(t, d)...)
	}
	require.Len(t, alive(pids, "zebra", "staticd", "ospfd"), 6)

	r1 := node(t, n, "r1")
	var last []nettest.RouteEntry
	require.Eventually(t, func() bool {
		last, err = r1.RouteTable()
		require.NoError(t, err)
		return slices.ContainsFunc(last, func(e nettest.RouteEntry) bool {
			return e.Dst.String() == "10.0.3.0/24" && e.Protocol == "ospf"
		})
	}, 30*time.Second, 100*time.Millisecond, "r1 learns h2's subnet from OSPF: %v", &last)
	out, err := ds[0].Exec(ctx, "show ip ospf neighbor")
	require.NoError(t, err)
	require.Contains(t, out, "Full")
	conf, err := ds[0].Exec(ctx, "show running-config")
	require.NoError(t, err)
	require.Contains(t, conf, "hostname r1")
	require.Contains(t, conf, "ospf router-id 10.0.1.2")

	for _, f := range []string{"/run/frr/zebra.pid", "/run/frr/ospfd.vty", "/etc/frr/frr.conf"} {
		p, err := r1.FilePath(f)
		require.NoError(t, err)
		require.FileExists(t, p)
	}
	p, err := r1.FilePath("/var/tmp/frr")
	require.NoError(t, err)
	require.DirExists(t, p)
	if !varTmpBefore {
		require.NoDirExists(t, "/var/tmp/frr", "nothing in the host's /var/tmp")
	}
	require.Equal(t, runBefore, lsHost("/run/frr"), "nothing in the host's /run/frr")

	for _, d := range ds {
		require.NoError(t, d.Stop())
	}
	require.Empty(t, alive(pids, "zebra", "staticd", "ospfd"), "no daemon left")
}

// frrKillHelper starts FRR in a node, prints its daemons' PIDs, says
// "ready" and waits to be killed.
func frrKillHelper() {
	b := nettest.NewBuilder("").Router("r1", "r2").Link("r1", "r2")
	n, err := b.Build(context.Background())
	if err == nil {
		var r1 *nettest.Node
		r1, err = n.Node("r1")
		if err == nil {
			var d *nettest.Daemon
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if d, err = r1.StartDaemon(ctx, nettest.FRR(ospfConf, "ospfd")); err == nil {
				fmt.Println("pids", strings.Trim(fmt.Sprint(daemonPids(&testing.T{}, d)), "[]"))
			}
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

// TestFRRGoneAfterSIGKILL: FRR's daemons die with a test process killed
// with SIGKILL (no cleanup runs).
func TestFRRGoneAfterSIGKILL(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireFRR(t, "ospfd")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=frrkill")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		require.NotContains(t, sc.Text(), "error:")
		if rest, ok := strings.CutPrefix(sc.Text(), "pids "); ok {
			for _, f := range strings.Fields(rest) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
		}
	}
	require.Len(t, alive(pids, "zebra", "staticd", "ospfd"), 3)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	require.Eventually(t, func() bool { return len(alive(pids, "zebra", "staticd", "ospfd")) == 0 }, 5*time.Second, 10*time.Millisecond,
		"FRR's daemons die with the test process")
}
