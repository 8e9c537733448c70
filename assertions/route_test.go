package assertions_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// ecmp is h with two uplinks, to routers a and b, both joined to far; h
// reaches 10.0.9.0/24 over both (ECMP), 10.0.3.0/24 over a only.
func ecmp(t testing.TB) *nettest.Network {
	return build(t, nettest.NewBuilder("ecmp").Auto(nettest.Auto{}).
		Host("h").Router("a", "b").Host("far").
		Link("h:up1=10.0.1.1/24,fd00:1::1/64", "a:down=10.0.1.2/24,fd00:1::2/64").
		Link("h:up2=10.0.2.1/24,fd00:2::1/64", "b:down=10.0.2.2/24,fd00:2::2/64").
		Link("a:up=10.0.3.1/24", "far:e0=10.0.3.2/24").
		Link("b:up=10.0.4.1/24", "far:e1=10.0.4.2/24").
		Route("h",
			"10.0.9.0/24 nexthop via 10.0.1.2 nexthop via 10.0.2.2",
			"fd00:9::/64 nexthop via fd00:1::2 nexthop via fd00:2::2",
			"10.0.3.0/24 via 10.0.1.2"))
}

func TestRouteVia(t *testing.T) {
	t.Parallel()
	n := ecmp(t)
	// Either gateway of the multipath route, by address, node or interface.
	for _, gw := range []string{"10.0.1.2", "10.0.2.2", "a", "b", "b:down"} {
		passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "10.0.9.0/24", gw) })
		passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "10.0.9.77", gw, assertions.IPv4()) })
	}
	passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "fd00:9::1", "fd00:2::2") })
	passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "far:e0", "a") })

	msg := fails(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "10.0.9.0/24", "far") })
	require.Equal(t, "route to 10.0.9.0/24 on h: via 10.0.1.2 and 10.0.2.2, want via far (10.0.3.2 or 10.0.4.2) "+
		"(h's route: 10.0.9.0/24 nexthop via 10.0.1.2 dev up1 weight 1 nexthop via 10.0.2.2 dev up2 weight 1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "far:e0", "10.0.2.2") })
	require.Equal(t, "route to far:e0 (10.0.3.2) on h: via 10.0.1.2, want via 10.0.2.2 (h's route: 10.0.3.0/24 via 10.0.1.2 dev up1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "10.0.1.9", "a") })
	require.Equal(t, "route to 10.0.1.9 on h: via no gateway (dev up1), want via a (10.0.1.2 or 10.0.3.1) (h's route: 10.0.1.0/24 dev up1 src 10.0.1.1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "192.0.2.0/24", "a") })
	require.Equal(t, "route to 192.0.2.0/24 on h: no route, want via a (10.0.1.2 or 10.0.3.1)", msg)

	// A route learned the way routing daemons install IPv6 routes, via the
	// neighbour's link-local address: the gateway named by its node matches.
	down, err := node(t, n, "a").Interface("down")
	require.NoError(t, err)
	ll := linkLocal(down.MAC())
	h := node(t, n, "h")
	_, dst, _ := net.ParseCIDR("fd00:77::/64")
	require.NoError(t, h.Netlink(func(nh *netlink.Handle) error {
		up1, err := nh.LinkByName("up1")
		if err != nil {
			return err
		}
		return nh.RouteAdd(&netlink.Route{Dst: dst, Gw: ll.AsSlice(), LinkIndex: up1.Attrs().Index})
	}))
	passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "fd00:77::/64", "a") })
	passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "fd00:77::/64", "a:down") })
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h", "fd00:77::/64", "b") })
	require.Equal(t, "route to fd00:77::/64 on h: via "+ll.String()+", want via b (fd00:2::2) (h's route: fd00:77::/64 via "+ll.String()+" dev up1 metric 1024)", msg)
}

func TestRouteDev(t *testing.T) {
	t.Parallel()
	n := ecmp(t)
	for _, dev := range []string{"up1", "up2"} {
		passes(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "h", "10.0.9.0/24", dev) })
		passes(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "h", "fd00:9::/64", dev) })
	}
	passes(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "h", "h:up2", "up2") }) // a local route: the FIB entry names the interface
	msg := fails(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "h", "far:e0", "up2") })
	require.Equal(t, "route to far:e0 (10.0.3.2) on h: dev up1, want dev up2 (h's route: 10.0.3.0/24 via 10.0.1.2 dev up1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "h", "10.0.9.1", "eth0") })
	require.Equal(t, "route to 10.0.9.1 on h: dev up1 and up2, want dev eth0 "+
		"(h's route: 10.0.9.0/24 nexthop via 10.0.1.2 dev up1 weight 1 nexthop via 10.0.2.2 dev up2 weight 1)", msg)
}

func TestRouteSrc(t *testing.T) {
	t.Parallel()
	n := ecmp(t)
	passes(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "far:e0", "10.0.1.1") })
	passes(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "far:e0", "h:up1") })
	passes(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "b", "h:up2") }) // both families
	msg := fails(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "10.0.3.2", "h:up2") })
	require.Equal(t, "route to 10.0.3.2 on h: src 10.0.1.1, want src h:up2 (10.0.2.1) (h's route: 10.0.3.2 via 10.0.1.2 dev up1 src 10.0.1.1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "192.0.2.1", "10.0.1.1") })
	require.Equal(t, "route to 192.0.2.1 on h: no route, want src 10.0.1.1", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h", "far", "fd00:1::1") })
	require.Equal(t, "route to far on h: far has no IPv6 address", msg)
}

func TestNoRoute(t *testing.T) {
	t.Parallel()
	n := ecmp(t)
	passes(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "h", "192.0.2.1") })
	passes(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "h", "2001:db8::/32") })
	passes(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "h", "far:e1") })
	msg := fails(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "h", "10.0.9.1") })
	require.Equal(t, "route to 10.0.9.1 on h: a route, want no route "+
		"(h's route: 10.0.9.0/24 nexthop via 10.0.1.2 dev up1 weight 1 nexthop via 10.0.2.2 dev up2 weight 1)", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "a", "h") })
	require.Equal(t, []string{
		"route to h (10.0.1.1) on a: a route, want no route (a's route: 10.0.1.0/24 dev down src 10.0.1.2)",
		"route to h (fd00:1::1) on a: a route, want no route (a's route: fd00:1::/64 dev down metric 256)",
	}, lines(msg))
}

// linkLocal returns the IPv6 link-local address the kernel derives from a
// MAC address (EUI-64, the default address generation mode).
func linkLocal(mac net.HardwareAddr) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}
