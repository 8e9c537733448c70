package nettest_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// ring builds routers r1..rn in a ring (r1-r2, ..., rn-r1) with host hi on
// each ri, automatic addresses and routes.
func ring(t testing.TB, n int, auto nettest.Auto) *nettest.Network {
	t.Helper()
	b := nettest.NewBuilder(fmt.Sprintf("ring%d", n)).Auto(auto)
	var rs []string
	for i := 1; i <= n; i++ {
		rs = append(rs, fmt.Sprintf("r%d", i))
		b.Router(rs[i-1]).Host(fmt.Sprintf("h%d", i))
	}
	b.Chain(append(rs, rs[0])...)
	for i := 1; i <= n; i++ {
		b.Link(fmt.Sprintf("h%d", i), fmt.Sprintf("r%d", i))
	}
	return build(t, mustTopology(t, b))
}

var allAuto = nettest.Auto{IPv4: true, IPv6: true, Routes: true}

// viaOf returns the next hop r's kernel picks for dst's address of family f.
func viaOf(t *testing.T, n *nettest.Network, from, to string, f nettest.Family) string {
	t.Helper()
	info, err := node(t, n, from).RouteGet(addr(t, n, to, f))
	if err != nil {
		return "no route: " + err.Error()
	}
	return info.Via.String()
}

// TestRoutesFollowLinks: on a ring with automatic routes and no daemon, a
// cut link makes every router route around it at once (not only the two
// next to the cut), IPv4 and IPv6, and bringing it back restores the
// shortest paths.
func TestRoutesFollowLinks(t *testing.T) {
	testenv.RequirePrivilege(t)
	n := ring(t, 5, allAuto)
	cut, err := n.Link("r1-r2")
	require.NoError(t, err)
	r2ToR1 := map[nettest.Family]string{}
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		r2ToR1[f] = viaOf(t, n, "r3", "h1", f)
	}
	require.NoError(t, cut.SetDown())
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		// h1 - r1 - r5 - r4 - r3 - r2 - h2 now: r3, two hops from the cut,
		// must send h1's traffic the other way round too.
		ping(t, node(t, n, "h1"), addr(t, n, "h2", f))
		ping(t, node(t, n, "h2"), addr(t, n, "h1", f))
		require.NotEqual(t, r2ToR1[f], viaOf(t, n, "r3", "h1", f), "r3 still routes h1 (%v) into the cut", f)
	}
	require.NoError(t, cut.SetUp(context.Background()))
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		require.Equal(t, r2ToR1[f], viaOf(t, n, "r3", "h1", f), "r3's route to h1 (%v) after the link is back", f)
		ping(t, node(t, n, "h1"), addr(t, n, "h2", f))
	}

	// One end down, and a partition, follow too.
	r1eth := ifaceOn(t, n, "r1", "r1-r2")
	require.NoError(t, r1eth.SetDown())
	ping(t, node(t, n, "h2"), addr(t, n, "h1", nettest.IPv6))
	require.NoError(t, r1eth.SetUp(context.Background()))
	p, err := n.Partition("r4")
	require.NoError(t, err)
	ping(t, node(t, n, "h3"), addr(t, n, "h5", nettest.IPv4))
	_, err = node(t, n, "h1").Ping(context.Background(), addr(t, n, "h4", nettest.IPv4), nettest.PingTimeout(200*time.Millisecond))
	require.Error(t, err, "h4 is cut off")
	require.NoError(t, p.Heal(context.Background()))
	ping(t, node(t, n, "h1"), addr(t, n, "h4", nettest.IPv4))
}

// TestFrozenRoutes: with Auto.FrozenRoutes a router away from the cut keeps
// sending into it, as static routes do.
func TestFrozenRoutes(t *testing.T) {
	testenv.RequirePrivilege(t)
	auto := allAuto
	auto.FrozenRoutes = true
	n := ring(t, 5, auto)
	before := viaOf(t, n, "r3", "h1", nettest.IPv4)
	cut, err := n.Link("r1-r2")
	require.NoError(t, err)
	require.NoError(t, cut.SetDown())
	require.Equal(t, before, viaOf(t, n, "r3", "h1", nettest.IPv4))
	_, err = node(t, n, "h3").Ping(context.Background(), addr(t, n, "h1", nettest.IPv4), nettest.PingTimeout(200*time.Millisecond))
	require.Error(t, err, "with frozen routes, r3 sends h1's traffic into the cut")
}

// TestBackupRouteBesideAutomatic: a route given for a destination that
// automatic routing also covers, with a metric above AutoRouteMetric, is a
// backup beside the automatic route (it used to replace it), in both
// families; it takes over when the automatic route has no path left.
func TestBackupRouteBesideAutomatic(t *testing.T) {
	testenv.RequirePrivilege(t)
	shape := func(routes ...string) *nettest.Builder {
		return nettest.NewBuilder("backup").Auto(nettest.Auto{IPv4: true, IPv6: true, Routes: true, FrozenRoutes: true}).
			Router("r1", "r2", "r3").Host("h1", "h2").
			Chain("h1", "r1", "r2", "h2").Link("r1", "r3").Link("r3", "r2").Route("r1", routes...)
	}
	// Automatic addresses are deterministic: learn h2's subnets first.
	first := build(t, mustTopology(t, shape()))
	sub4 := netip.PrefixFrom(addr(t, first, "h2", nettest.IPv4), 30).Masked()
	sub6 := netip.PrefixFrom(addr(t, first, "h2", nettest.IPv6), 64).Masked()
	require.NoError(t, first.Close())

	n := build(t, mustTopology(t, shape(sub4.String()+" via r3 metric 2000", sub6.String()+" via r3 metric 2000")))
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		require.Equal(t, addrOn(t, n, "r2", "r1-r2", f).String(), viaOf(t, n, "r1", "h2", f), "the automatic route (via r2) is used, %v", f)
	}
	link, err := n.Link("r1-r2")
	require.NoError(t, err)
	require.NoError(t, link.SetDown())
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		require.Equal(t, addrOn(t, n, "r3", "r1-r3", f).String(), viaOf(t, n, "r1", "h2", f), "the backup (via r3) takes over, %v", f)
	}
}

// TestRerouteTime measures how long a link change takes on a ring of 100
// routers (the reroute included): the target is 10 ms.
func TestRerouteTime(t *testing.T) {
	testenv.RequirePrivilege(t)
	if testing.Short() {
		t.Skip("skipping in -short mode")
	}
	n := ring(t, 100, allAuto)
	cut, err := n.Link("r1-r2")
	require.NoError(t, err)
	t0 := time.Now()
	require.NoError(t, cut.SetDown())
	down := time.Since(t0)
	// 50 hops the other way round (a TTL of 64 allows no longer detour).
	ping(t, node(t, n, "h1"), addr(t, n, "h51", nettest.IPv4))
	ping(t, node(t, n, "h2"), addr(t, n, "h52", nettest.IPv6))
	t0 = time.Now()
	require.NoError(t, cut.SetUp(context.Background()))
	up := time.Since(t0)
	t.Logf("ring of 100 routers: SetDown with every route following %v, SetUp %v", down, up)
}

// addrOn returns a node's address of family f on a link or LAN.
func addrOn(t *testing.T, n *nettest.Network, node, segment string, f nettest.Family) netip.Addr {
	t.Helper()
	a, err := ifaceOn(t, n, node, segment).Addr(f)
	require.NoError(t, err)
	return a
}
