package nettest_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

var bothFamilies = []nettest.Family{nettest.IPv4, nettest.IPv6}

func mustTopology(t testing.TB, b *nettest.Builder) nettest.Topology {
	t.Helper()
	topo, err := b.Topology()
	require.NoError(t, err)
	return topo
}

// TestLAN pings between every pair of five hosts on one switch, v4 and v6.
func TestLAN(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("lan").Host("h1", "h2", "h3", "h4", "h5").
		LAN("sw", []string{"h1", "h2", "h3", "h4", "h5"})))
	sw := node(t, n, "sw")
	require.True(t, sw.IsSwitch())
	// The bridge and its five ports live in the switch's namespace.
	var br netlink.Link
	var links []netlink.Link
	require.NoError(t, sw.Netlink(func(h *netlink.Handle) (err error) {
		if br, err = h.LinkByName("br0"); err != nil {
			return err
		}
		links, err = h.LinkList()
		return err
	}))
	ports := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			ports++
		}
	}
	require.Equal(t, 5, ports)
	for _, from := range n.Nodes() {
		for _, to := range n.Nodes() {
			for _, f := range bothFamilies {
				ping(t, from, addr(t, n, to.Name(), f))
			}
		}
	}
}

// TestChainAutoRoutes builds h1 - r1 - ... - r6 - h2 with automatic
// addresses and routes and pings end to end over both families; the route
// h1's kernel picks goes through r1.
func TestChainAutoRoutes(t *testing.T) {
	routers := []string{"r1", "r2", "r3", "r4", "r5", "r6"}
	b := nettest.NewBuilder("chain").Host("h1", "h2").Router(routers...)
	b.Chain(append(append([]string{"h1"}, routers...), "h2")...)
	n := build(t, mustTopology(t, b))
	h1, h2 := node(t, n, "h1"), node(t, n, "h2")
	for _, f := range bothFamilies {
		ping(t, h1, addr(t, n, "h2", f))
		ping(t, h2, addr(t, n, "h1", f))
		ping(t, h1, addr(t, n, "r4:eth1", f))
		r, err := h1.RouteGet(addr(t, n, "h2", f))
		require.NoError(t, err)
		require.Equal(t, "eth0", r.Dev)
		require.Equal(t, addr(t, n, "r1:eth0", f), r.Via, "h1 reaches h2 through r1")
	}
	// Routers forward, hosts do not: read the sysctls inside each node.
	for _, nd := range n.Nodes() {
		want := "0"
		if nd.Kind() == nettest.Router {
			want = "1"
		}
		for _, path := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			require.Equal(t, want, readSysctl(t, nd, path), "%s in %s", path, nd)
		}
	}
}

// TestHostsDoNotForward puts a host where a router should be: no route
// crosses it, so the far side is unreachable.
func TestHostsDoNotForward(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("").Host("a", "middle", "b").Chain("a", "middle", "b")))
	for _, f := range bothFamilies {
		ping(t, node(t, n, "a"), addr(t, n, "middle:eth1", f)) // the host's far address answers
	}
	_, err := node(t, n, "a").RouteGet(addr(t, n, "b", nettest.IPv4))
	require.ErrorIs(t, err, nettest.ErrNoRoute)
}

func readSysctl(t testing.TB, nd *nettest.Node, path string) string {
	t.Helper()
	var v []byte
	require.NoError(t, nd.Do(func() (err error) {
		v, err = os.ReadFile(path)
		return err
	}))
	return strings.TrimSpace(string(v))
}

// TestECMP installs a multipath route and finds both next hops in the
// kernel's table, and traffic flowing over it.
func TestECMP(t *testing.T) {
	b := nettest.NewBuilder("ecmp").Auto(nettest.Auto{}).
		Host("h").Router("a", "b").Host("far").
		Link("h:up1=10.0.1.1/24", "a:down=10.0.1.2/24").
		Link("h:up2=10.0.2.1/24", "b:down=10.0.2.2/24").
		Link("a:up=10.0.3.1/24", "far:e0=10.0.3.2/24").
		Link("b:up=10.0.4.1/24", "far:e1=10.0.4.2/24").
		Route("h", "10.0.9.0/24 nexthop via 10.0.1.2 nexthop via 10.0.2.2 weight 2", "10.0.3.0/24 via 10.0.1.2", "10.0.4.0/24 via 10.0.2.2").
		Route("far", "10.0.1.0/24 via 10.0.3.1", "10.0.2.0/24 via 10.0.4.1")
	n := build(t, mustTopology(t, b))
	h := node(t, n, "h")
	_, dst, _ := net.ParseCIDR("10.0.9.0/24")
	got := map[string]int{}
	require.NoError(t, h.Netlink(func(nh *netlink.Handle) error {
		routes, err := nh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
		require.NoError(t, err)
		require.Len(t, routes, 1)
		require.Len(t, routes[0].MultiPath, 2, "both next hops installed: %v", routes[0])
		for _, hop := range routes[0].MultiPath {
			link, err := nh.LinkByIndex(hop.LinkIndex)
			require.NoError(t, err)
			got[fmt.Sprintf("%s via %s", link.Attrs().Name, hop.Gw)] = hop.Hops + 1
		}
		return nil
	}))
	require.Equal(t, map[string]int{"up1 via 10.0.1.2": 1, "up2 via 10.0.2.2": 2}, got)
	ping(t, h, netip.MustParseAddr("10.0.3.2"))
	ping(t, h, netip.MustParseAddr("10.0.4.2"))
}

// TestLinkDownUp: a link set down stops traffic and the route through it;
// set up again, addresses and routes come back and traffic flows.
func TestLinkDownUp(t *testing.T) {
	b := nettest.NewBuilder("downup").Host("h1", "h2").Router("r1", "r2").Chain("h1", "r1", "r2", "h2")
	n := build(t, mustTopology(t, b))
	h1 := node(t, n, "h1")
	mid, err := n.Link("r1-r2")
	require.NoError(t, err)
	for _, f := range bothFamilies {
		ping(t, h1, addr(t, n, "h2", f))
	}
	require.NoError(t, mid.SetDown())
	require.False(t, mid.IsUp())
	for _, f := range bothFamilies {
		noPing(t, h1, addr(t, n, "h2", f))
	}
	// r1 lost its routes through the link.
	_, err = node(t, n, "r1").RouteGet(addr(t, n, "h2", nettest.IPv4))
	require.ErrorIs(t, err, nettest.ErrNoRoute)

	require.NoError(t, mid.SetUp(context.Background()))
	require.True(t, mid.IsUp())
	for _, f := range bothFamilies {
		ping(t, h1, addr(t, n, "h2", f))
		ping(t, node(t, n, "h2"), addr(t, n, "h1", f))
	}
}

// TestFailoverByMetric: a backup route with a higher metric takes over when
// the primary link goes down, and gives way when it comes back.
func TestFailoverByMetric(t *testing.T) {
	b := nettest.NewBuilder("failover").Auto(nettest.Auto{}).
		Host("h").Router("primary", "backup").Host("far").
		Link("h:p=10.0.1.1/24", "primary:h=10.0.1.2/24", nettest.LinkName("h-primary")).
		Link("h:b=10.0.2.1/24", "backup:h=10.0.2.2/24").
		Link("primary:far=10.0.3.1/24", "far:p=10.0.3.2/24").
		Link("backup:far=10.0.4.1/24", "far:b=10.0.4.2/24").
		Route("h", "10.0.3.0/24 via 10.0.1.2 metric 10", "10.0.3.0/24 via 10.0.2.2 metric 20").
		Route("backup", "10.0.3.0/24 via 10.0.4.2").
		Route("far", "10.0.1.0/24 via 10.0.3.1 metric 10", "10.0.1.0/24 via 10.0.4.1 metric 20", "10.0.2.0/24 via 10.0.4.1")
	n := build(t, mustTopology(t, b))
	h, far := node(t, n, "h"), netip.MustParseAddr("10.0.3.2")
	r, err := h.RouteGet(far)
	require.NoError(t, err)
	require.Equal(t, "10.0.3.2 via 10.0.1.2 dev p src 10.0.1.1", r.String())
	l, err := n.Link("h:p")
	require.NoError(t, err)
	require.Equal(t, "h-primary", l.Name())
	require.NoError(t, l.SetDown())
	r, err = h.RouteGet(far)
	require.NoError(t, err)
	require.Equal(t, "10.0.3.2 via 10.0.2.2 dev b src 10.0.2.1", r.String())
	ping(t, h, far)
	require.NoError(t, l.SetUp(context.Background()))
	r, err = h.RouteGet(far)
	require.NoError(t, err)
	require.Equal(t, "via 10.0.1.2", "via "+r.Via.String())
	ping(t, h, far)
}

// TestKernelSeesTheTopology checks what the kernel holds against the plan:
// MTU, derived MACs (the same on every build), user sysctls, names reused in
// two topologies at once.
func TestKernelSeesTheTopology(t *testing.T) {
	mk := func() *nettest.Network {
		b := nettest.NewBuilder("").Host("a", "b").Router("r").
			Link("a", "r", nettest.LinkMTU(9000)).Link("r", "b").
			Sysctl("r", "net.ipv4.conf.eth0.rp_filter", "2")
		return build(t, mustTopology(t, b))
	}
	n1, n2 := mk(), mk()
	for _, n := range []*nettest.Network{n1, n2} {
		a := node(t, n, "a")
		var l netlink.Link
		require.NoError(t, a.Netlink(func(h *netlink.Handle) (err error) {
			l, err = h.LinkByName("eth0")
			return err
		}))
		require.Equal(t, 9000, l.Attrs().MTU)
		in, err := a.Interface("eth0")
		require.NoError(t, err)
		require.Equal(t, in.MAC().String(), l.Attrs().HardwareAddr.String())
		require.Equal(t, in.Index(), l.Attrs().Index)
		require.Equal(t, "2", readSysctl(t, node(t, n, "r"), "/proc/sys/net/ipv4/conf/eth0/rp_filter"))
		require.Equal(t, "0", readSysctl(t, node(t, n, "r"), "/proc/sys/net/ipv4/conf/eth1/rp_filter"))
		ping(t, a, addr(t, n, "b", nettest.IPv6))
	}
	in1, _ := node(t, n1, "a").Interface("eth0")
	in2, _ := node(t, n2, "a").Interface("eth0")
	require.Equal(t, in1.MAC(), in2.MAC(), "MACs are derived from names, the same on every run")
	require.Equal(t, "02", fmt.Sprintf("%02x", in1.MAC()[0]&0x03), "locally administered unicast")
}

// TestRouteViaNode: gateways named by node, with automatic addresses; a
// default route via a node is made for both families.
func TestRouteViaNode(t *testing.T) {
	b := nettest.NewBuilder("vianode").Auto(nettest.Auto{IPv4: true, IPv6: true}).
		Host("h1", "h2").Router("r1", "r2").Chain("h1", "r1", "r2", "h2").
		Route("h1", "default via r1").Route("h2", "default via r2:eth1").
		Route("r1", "default via r2").Route("r2", "default via r1")
	n := build(t, mustTopology(t, b))
	h1 := node(t, n, "h1")
	require.Equal(t, []string{
		"0.0.0.0/0 via 198.18.0.2 dev eth0",
		"::/0 via fdf6:fd81:8f7e::2 dev eth0",
	}, routeStrings(h1.Routes()))
	for _, f := range bothFamilies {
		ping(t, h1, addr(t, n, "h2", f))
	}
	_, err := nettest.NewBuilder("bad").Host("a", "b", "c").Link("a", "b").
		Route("a", "default via c", "default via zz", "10.0.0.0/8 via a", "default via b:eth9").Topology()
	for _, want := range []string{
		`node a: route default via c: gateway "c": c shares no IPv6 subnet with a`,
		`node a: route default via zz: gateway "zz" is not a node`,
		`node a: route 10.0.0.0/8 via a: gateway "a" is the node itself`,
		`node a: route default via b:eth9: gateway "b:eth9": node b has no interface "eth9"`,
	} {
		require.ErrorContains(t, err, want)
	}
}

func routeStrings(rs []nettest.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestBuildProgress: Build reports every stage, in order, ending complete.
func TestBuildProgress(t *testing.T) {
	testenv.RequirePrivilege(t)
	var seen []nettest.Progress
	ctx := nettest.WithProgress(context.Background(), func(p nettest.Progress) { seen = append(seen, p) })
	n, err := nettest.NewBuilder("progress").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2").Build(ctx)
	require.NoError(t, err)
	defer n.Close()
	var stages []string
	for _, p := range seen {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
		require.LessOrEqual(t, p.Done, p.Total)
	}
	require.Equal(t, []string{"namespaces", "links", "addresses", "routes", "ready"}, stages)
	require.Equal(t, nettest.Progress{Stage: "ready", Done: 3, Total: 3}, seen[len(seen)-1])
	require.Contains(t, seen, nettest.Progress{Stage: "links", Done: 2, Total: 2})
}
