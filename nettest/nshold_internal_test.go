package nettest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func requirePrivilege(t *testing.T) {
	t.Helper()
	if err := CheckPrivilege(); err != nil {
		if os.Getenv("NETTEST_REQUIRE_PRIVILEGE") == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}

// TestBuildUnderLowFileLimit: a chain of 302 nodes builds, works and
// closes under a soft limit of 256 open files, and holds few descriptors
// while it is up: namespaces are held by bind mounts in the holder, not by
// a descriptor each, and only a bounded number of nodes keep netlink
// sockets open. (Before, every node held its namespace's descriptor and two
// sockets: Build failed with "too many open files".)
func TestBuildUnderLowFileLimit(t *testing.T) {
	requirePrivilege(t)
	var saved unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &saved))
	low := saved
	low.Cur = 256
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	defer func() {
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &saved))
		refreshConnCap()
	}()
	before := openFiles(t)

	const routers = 300
	b := NewBuilder("lowfd").Auto(Auto{IPv4: true}).Host("h1", "h2")
	ends := []string{"h1"}
	for i := 1; i <= routers; i++ {
		r := fmt.Sprintf("r%d", i)
		b.Router(r)
		ends = append(ends, r)
	}
	b.Chain(append(ends, "h2")...)
	n, err := b.Build(context.Background())
	require.NoError(t, err)
	defer n.Close()
	require.Less(t, openFiles(t)-before, 64, "descriptors held by a network of %d nodes", routers+2)

	// Every node still answers: the first and last hosts ping their
	// routers (their sockets were closed long ago), a router in the middle
	// is entered and asked for a route.
	for _, pair := range [][2]string{{"h1", "r1"}, {"h2", fmt.Sprintf("r%d", routers)}, {"r150", "r151"}} {
		from, err := n.Node(pair[0])
		require.NoError(t, err)
		to, err := n.AddrOn(pair[1], pair[0]+"-"+pair[1], IPv4)
		if err != nil {
			to, err = n.AddrOn(pair[1], pair[1]+"-"+pair[0], IPv4)
		}
		require.NoError(t, err)
		_, err = from.Ping(context.Background(), to, PingCount(1))
		require.NoError(t, err, "%s pings %s", pair[0], pair[1])
	}
	r, err := n.Node("r150")
	require.NoError(t, err)
	require.NoError(t, r.Do(func() error {
		_, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}))
	require.NoError(t, n.Close())
	require.LessOrEqual(t, openFiles(t), before+2, "Close releases every descriptor")
}

// TestBuildProgressCounts: the stages that run in parallel (namespaces,
// ready) report how far they are as they go, not only at their start and
// end, so a progress line moves during a large build.
func TestBuildProgressCounts(t *testing.T) {
	requirePrivilege(t)
	saved := progressTick
	progressTick = time.Millisecond
	defer func() { progressTick = saved }()
	const nodes = 120
	b := NewBuilder("progress").Auto(Auto{IPv4: true})
	var names []string
	for i := range nodes {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	b.Router(names...).Chain(names...)
	var mu sync.Mutex
	partial := map[string]bool{}
	ctx := WithProgress(context.Background(), func(p Progress) {
		if p.Done > 0 && p.Done < p.Total {
			mu.Lock()
			partial[p.Stage] = true
			mu.Unlock()
		}
	})
	n, err := b.Build(ctx)
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.True(t, partial["namespaces"], "namespaces made reported as they go: %v", partial)
}

// TestVethOneQueue: both ends of a veth are made with one queue each way,
// so that the kernel need not cut the number in use down (which waits for
// an expedited RCU grace period per end).
func TestVethOneQueue(t *testing.T) {
	requirePrivilege(t)
	n, err := NewBuilder("queues").Auto(Auto{IPv4: true}).Host("a", "b").Link("a", "b").Build(context.Background())
	require.NoError(t, err)
	defer n.Close()
	for _, name := range []string{"a", "b"} {
		node, err := n.Node(name)
		require.NoError(t, err)
		l, err := node.ns.nl.LinkByName("eth0")
		require.NoError(t, err)
		require.Equal(t, 1, l.Attrs().NumTxQueues, "%s:eth0 tx queues", name)
		require.Equal(t, 1, l.Attrs().NumRxQueues, "%s:eth0 rx queues", name)
	}
}

// TestNetSysctlsRelative: the sysctls a namespace gets at creation, written
// relative to its /proc/sys/net, land in that namespace: a router forwards
// and pings from any group, the host's values elsewhere untouched.
func TestNetSysctlsRelative(t *testing.T) {
	requirePrivilege(t)
	hostForward, err := os.ReadFile(sysIPForward)
	require.NoError(t, err)
	nss, err := newNamespaces([]func() [][2]string{func() [][2]string { return nodeSysctls(true, false) }}, nil, nil)
	require.NoError(t, err)
	ns := nss[0]
	defer ns.close()
	got := map[string]string{}
	require.NoError(t, ns.do(func() error {
		for _, path := range []string{sysIPForward, sysPingGroupRange, sysRPFilterAll, sysRPFilterDef} {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			got[path] = strings.TrimSpace(string(b))
		}
		return nil
	}))
	require.Equal(t, "1", got[sysIPForward])
	require.Equal(t, strings.Join(strings.Fields(pingGroupRange()), "\t"), got[sysPingGroupRange])
	require.Equal(t, "0", got[sysRPFilterAll])
	require.Equal(t, "0", got[sysRPFilterDef])
	after, err := os.ReadFile(sysIPForward)
	require.NoError(t, err)
	require.Equal(t, string(hostForward), string(after), "the host's ip_forward")
	// A path outside /proc/sys/net is written as it is; a missing one is
	// an error naming it.
	err = writeNetSysctls([][2]string{{sysNet + "ipv4/no_such_sysctl", "1"}})
	require.ErrorContains(t, err, "sysctl /proc/sys/net/ipv4/no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl: no such file or directory")
}
