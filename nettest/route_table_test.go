package nettest_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/nettest"
)

// TestRouteTable: the main table of a node, v4 then v6, each route with
// who installed it: the kernel (connected), nettest (boot), a daemon
// (here a route added as OSPF would, proto 188).
func TestRouteTable(t *testing.T) {
	b := nettest.NewBuilder("rtable").Auto(nettest.Auto{}).
		Host("h").Router("r").
		Link("h=10.0.1.1/24,fd00:1::1/64", "r=10.0.1.2/24,fd00:1::2/64").
		Route("h", "10.0.9.0/24 via 10.0.1.2")
	n := build(t, mustTopology(t, b))
	h := node(t, n, "h")
	err := h.Netlink(func(nl *netlink.Handle) error {
		in, err := h.Interface("eth0")
		if err != nil {
			return err
		}
		_, dst, _ := net.ParseCIDR("10.0.7.0/24")
		return nl.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("10.0.1.2"), LinkIndex: in.Index(), Protocol: unix.RTPROT_OSPF, Priority: 20})
	})
	require.NoError(t, err)

	routes, err := h.RouteTable()
	require.NoError(t, err)
	var got []string
	for _, r := range routes {
		got = append(got, r.String()+" ["+r.Protocol+"]")
	}
	require.Equal(t, []string{
		"10.0.1.0/24 dev eth0 src 10.0.1.1 [kernel]",
		"10.0.7.0/24 via 10.0.1.2 dev eth0 proto ospf metric 20 [ospf]",
		"10.0.9.0/24 via 10.0.1.2 dev eth0 [boot]",
		"fd00:1::/64 dev eth0 metric 256 [kernel]",
	}, got)
	require.Equal(t, "ospf", nettest.RouteProtocol(188))
	require.Equal(t, "bgp", nettest.RouteProtocol(186))
	require.Equal(t, "250", nettest.RouteProtocol(250))

	var report strings.Builder
	require.NoError(t, h.Report(&report))
	require.Contains(t, report.String(), "10.0.7.0/24 via 10.0.1.2 dev eth0 proto ospf metric 20\n")
	require.Contains(t, report.String(), "10.0.9.0/24 via 10.0.1.2 dev eth0\n")

	m, err := h.RouteMatch(netip.MustParseAddr("10.0.7.1"))
	require.NoError(t, err)
	require.Equal(t, "ospf", m.Protocol)
}
