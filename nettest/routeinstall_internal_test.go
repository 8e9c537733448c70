package nettest

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestInstallRoutesBatches: installRoutes makes more changes than one
// message holds, IPv4 and IPv6; the kernel's refusals (here: routes added
// twice) land on their own changes, the error names the node and the first
// refused route, and every other route is installed. Removing a route that
// is not there is no error.
func TestInstallRoutesBatches(t *testing.T) {
	if err := CheckPrivilege(); err != nil {
		if os.Getenv("NETTEST_REQUIRE_PRIVILEGE") == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	b := NewBuilder("routebatch").Host("a", "b").Link("a", "b")
	b.Auto(Auto{})
	topo, err := b.Topology()
	require.NoError(t, err)
	topo.Links[0].A.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16"), netip.MustParsePrefix("fd00:1::1/64")}
	topo.Links[0].B.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.2/16"), netip.MustParsePrefix("fd00:1::2/64")}
	n, err := Build(context.Background(), topo)
	require.NoError(t, err)
	defer n.Close()
	a, err := n.Node("a")
	require.NoError(t, err)
	eth := a.ifaces[0].p

	const perFamily = 2500 // several messages' worth (routeBatchBytes)
	var changes []routeChange
	bad := map[int]bool{}
	for i := range perFamily {
		for _, f := range []Family{IPv4, IPv6} {
			dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32)
			via := netip.MustParseAddr("10.0.0.2")
			if f == IPv6 {
				dst = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 2, 0, 14: byte(i >> 8), 15: byte(i)}), 128)
				via = netip.MustParseAddr("fd00:1::2")
			}
			rp := &routePlan{r: Route{Dst: dst, Via: via}, family: f, dst: dst, hops: []hopPlan{{via: via, dev: eth, weight: 1}}}
			changes = append(changes, routeChange{op: routeAdd, rp: rp})
			if i == 7 || i == 1500 || i == perFamily-1 {
				bad[len(changes)] = true
				changes = append(changes, routeChange{op: routeAdd, rp: rp}) // again: it exists
			}
		}
	}
	// A route through the interface alone, an ECMP route with weights, and
	// the removal of a route that is not there.
	onLink, ecmp, gone := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("198.51.100.0/24")
	gw2, gw3 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	changes = append(changes,
		routeChange{op: routeAdd, rp: &routePlan{r: Route{Dst: onLink, Dev: "eth0"}, family: IPv4, dst: onLink, hops: []hopPlan{{dev: eth, weight: 1}}}},
		routeChange{op: routeReplace, rp: &routePlan{
			r: Route{Dst: ecmp, NextHops: []NextHop{{Via: gw2, Weight: 2}, {Via: gw3}}}, family: IPv4, dst: ecmp, metric: 7,
			hops: []hopPlan{{via: gw2, dev: eth, weight: 2}, {via: gw3, dev: eth, weight: 1}},
		}},
		routeChange{op: routeDel, rp: &routePlan{r: Route{Dst: gone, Dev: "eth0"}, family: IPv4, dst: gone, hops: []hopPlan{{dev: eth, weight: 1}}}})

	err = a.installRoutes("", changes)
	first := changes[slices.Min(slices.Collect(maps.Keys(bad)))].rp.r
	require.EqualError(t, err, fmt.Sprintf("nettest: node a: route %s: file exists (and %d more routes refused)", first, len(bad)-1))
	for i, c := range changes {
		if bad[i] {
			require.ErrorIs(t, c.err, syscall.EEXIST, "change %d", i)
		} else {
			require.NoError(t, c.err, "change %d", i)
		}
	}
	for _, f := range []int{unix.AF_INET, unix.AF_INET6} {
		var got int
		require.NoError(t, a.Netlink(func(h *netlink.Handle) error {
			routes, err := h.RouteList(nil, f)
			for _, r := range routes {
				if r.Gw != nil {
					got++
				}
				if r.Dst != nil && r.Dst.String() == onLink.String() {
					require.Equal(t, netlink.SCOPE_LINK, r.Scope, "a route without a gateway has scope link")
				}
			}
			return err
		}))
		require.Equal(t, perFamily, got, "family %d", f)
	}
	for dst, want := range map[string]string{
		"192.0.2.1": "192.0.2.0/24 dev eth0",
		"10.9.0.1":  "10.9.0.0/16 metric 7 nexthop via 10.0.0.2 dev eth0 weight 2 nexthop via 10.0.0.3 dev eth0 weight 1",
	} {
		r, err := a.RouteMatch(netip.MustParseAddr(dst))
		require.NoError(t, err)
		require.Equal(t, want, r.String())
	}
}
