package nettest_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

// TestRouteMatch: the whole matched entry, every next hop of an ECMP route
// included (v4 and v6), connected and local routes, and no route.
func TestRouteMatch(t *testing.T) {
	b := nettest.NewBuilder("match").Auto(nettest.Auto{}).
		Host("h").Router("a", "b").
		Link("h:up1=10.0.1.1/24,fd00:1::1/64", "a=10.0.1.2/24,fd00:1::2/64").
		Link("h:up2=10.0.2.1/24,fd00:2::1/64", "b=10.0.2.2/24,fd00:2::2/64").
		Route("h",
			"10.0.9.0/24 nexthop via 10.0.1.2 nexthop via 10.0.2.2 weight 2",
			"fd00:9::/64 nexthop via fd00:1::2 nexthop via fd00:2::2",
			"10.0.8.0/24 via 10.0.2.2 metric 30")
	n := build(t, mustTopology(t, b))
	h := node(t, n, "h")
	for dst, want := range map[string]string{
		"10.0.9.7":  "10.0.9.0/24 nexthop via 10.0.1.2 dev up1 weight 1 nexthop via 10.0.2.2 dev up2 weight 2",
		"fd00:9::7": "fd00:9::/64 metric 1024 nexthop via fd00:1::2 dev up1 weight 1 nexthop via fd00:2::2 dev up2 weight 1",
		"10.0.8.1":  "10.0.8.0/24 via 10.0.2.2 dev up2 metric 30",
		"10.0.1.77": "10.0.1.0/24 dev up1 src 10.0.1.1",
		"fd00:2::9": "fd00:2::/64 dev up2 metric 256",
		"10.0.2.1":  "local 10.0.2.1 dev up2 src 10.0.2.1",
	} {
		r, err := h.RouteMatch(netip.MustParseAddr(dst))
		require.NoError(t, err, dst)
		require.Equal(t, want, r.String(), dst)
	}
	r, err := h.RouteMatch(netip.MustParseAddr("10.0.9.7"))
	require.NoError(t, err)
	require.Equal(t, nettest.RouteEntry{
		Dst:      netip.MustParsePrefix("10.0.9.0/24"),
		Type:     "unicast",
		Protocol: "boot",
		NextHops: []nettest.NextHop{
			{Via: netip.MustParseAddr("10.0.1.2"), Dev: "up1", Weight: 1},
			{Via: netip.MustParseAddr("10.0.2.2"), Dev: "up2", Weight: 2},
		},
	}, r)

	_, err = h.RouteMatch(netip.MustParseAddr("192.0.2.1"))
	require.ErrorIs(t, err, nettest.ErrNoRoute)
	require.ErrorContains(t, err, "nettest: node h: route to 192.0.2.1: no route")
	_, err = h.RouteMatch(netip.MustParseAddr("2001:db8::1"))
	require.ErrorIs(t, err, nettest.ErrNoRoute)
}
