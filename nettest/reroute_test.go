package nettest_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

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

// TestRerouteRing100: on a ring of 100 routers with a host each, after one
// ring link goes down every node's automatic routes, IPv4 and IPv6, are
// exactly those of the line the ring has become (each router sends every
// subnet it is not on to its neighbour towards it; a host sends everything
// to its router), with none left over; after the link is back they are
// those the ring had at first.
func TestRerouteRing100(t *testing.T) {
	testenv.RequirePrivilege(t)
	if testing.Short() {
		t.Skip("skipping in -short mode")
	}
	const size = 100
	n := ring(t, size, allAuto)
	families := []nettest.Family{nettest.IPv4, nettest.IPv6}
	initial := map[string]map[netip.Prefix]netip.Addr{}
	for _, nd := range n.Nodes() {
		initial[nd.Name()] = autoRoutesOf(t, nd)
	}
	cut, err := n.Link("r1-r2")
	require.NoError(t, err)
	require.NoError(t, cut.SetDown())

	// The line: r2 (position 0), r3, ..., r100, r1 (position size-1).
	pos := func(i int) int { return (i - 2 + size) % size }
	type at struct {
		node, seg string
		f         nettest.Family
	}
	addrs := map[at]netip.Addr{}
	addrOn := func(t *testing.T, n *nettest.Network, node, seg string, f nettest.Family) netip.Addr {
		k := at{node, seg, f}
		if _, ok := addrs[k]; !ok {
			a, err := n.AddrOn(node, seg, f)
			require.NoError(t, err)
			addrs[k] = a
		}
		return addrs[k]
	}
	router := func(p int) int { return (p+1)%size + 1 }
	subnet := func(a netip.Addr) netip.Prefix {
		return netip.PrefixFrom(a, map[bool]int{true: 30, false: 64}[a.Is4()]).Masked()
	}
	for i := 1; i <= size; i++ {
		r, h := fmt.Sprintf("r%d", i), fmt.Sprintf("h%d", i)
		wantR, wantH := map[netip.Prefix]netip.Addr{}, map[netip.Prefix]netip.Addr{}
		// via is r's next hop towards position q (not its own).
		via := func(q int, f nettest.Family) netip.Addr {
			next := pos(i) + 1
			if q < pos(i) {
				next = pos(i) - 1
			}
			other := fmt.Sprintf("r%d", router(next))
			seg := r + "-" + other
			if _, err := n.Link(seg); err != nil {
				seg = other + "-" + r
			}
			return addrOn(t, n, other, seg, f)
		}
		for _, f := range families {
			for j := 1; j <= size; j++ {
				// Router j's host link, and its ring link to the next
				// router (the cut one too: both its ends are on routers
				// still reached, r1 and r2; the nearer one takes it).
				hostSub := subnet(addrOn(t, n, fmt.Sprintf("h%d", j), fmt.Sprintf("h%d-r%d", j, j), f))
				next := j%size + 1
				ringSub := subnet(addrOn(t, n, fmt.Sprintf("r%d", j), fmt.Sprintf("r%d-r%d", j, next), f))
				wantH[hostSub] = addrOn(t, n, r, fmt.Sprintf("h%d-r%d", i, i), f)
				wantH[ringSub] = wantH[hostSub]
				if j != i {
					wantR[hostSub] = via(pos(j), f)
				}
				ringPos := min(pos(j), pos(next)) // the ring link's end nearer the line's start...
				if j == 1 {
					// r1-r2 ends at positions size-1 and 0, the
					// two ends of the line: the nearer one.
					ringPos = 0
					if pos(i) > (size-1)/2 {
						ringPos = size - 1
					}
				} else if pos(i) > ringPos {
					ringPos = max(pos(j), pos(next)) // ... or further from it
				}
				if j != i && next != i {
					wantR[ringSub] = via(ringPos, f)
				}
			}
			delete(wantH, subnet(addrOn(t, n, h, fmt.Sprintf("h%d-r%d", i, i), f)))
		}
		require.Equal(t, wantR, autoRoutesOf(t, node(t, n, r)), "%s's automatic routes with r1-r2 down", r)
		require.Equal(t, wantH, autoRoutesOf(t, node(t, n, h)), "%s's automatic routes with r1-r2 down", h)
	}

	require.NoError(t, cut.SetUp(context.Background()))
	for _, nd := range n.Nodes() {
		require.Equal(t, initial[nd.Name()], autoRoutesOf(t, nd), "%s's automatic routes with r1-r2 back up", nd)
	}
}

// autoRoutesOf returns the node's routes with metric AutoRouteMetric and a
// gateway, as its kernel has them: destination -> gateway.
func autoRoutesOf(t *testing.T, nd *nettest.Node) map[netip.Prefix]netip.Addr {
	t.Helper()
	out := map[netip.Prefix]netip.Addr{}
	require.NoError(t, nd.Netlink(func(h *netlink.Handle) error {
		routes, err := h.RouteList(nil, netlink.FAMILY_ALL)
		for _, r := range routes {
			if r.Priority != nettest.AutoRouteMetric || r.Gw == nil {
				continue
			}
			gw, _ := netip.AddrFromSlice(r.Gw)
			dst, _ := netip.AddrFromSlice(r.Dst.IP)
			bits, _ := r.Dst.Mask.Size()
			p := netip.PrefixFrom(dst.Unmap(), bits)
			if _, dup := out[p]; dup {
				t.Errorf("%s has two routes to %s", nd, p)
			}
			out[p] = gw.Unmap()
		}
		return err
	}))
	return out
}
