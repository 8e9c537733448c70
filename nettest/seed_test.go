package nettest_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// seedTopology is the seed tutorial's Examples 1-5: namespaces red and blue
// joined by veth-red/veth-blue, 10.1.1.1/24 and 10.1.1.2/24.
func seedTopology() nettest.Topology {
	return nettest.Topology{
		Name:  "seed",
		Nodes: []nettest.NodeConfig{{Name: "red"}, {Name: "blue"}},
		Links: []nettest.LinkConfig{{
			A: nettest.Endpoint{Node: "red", Iface: "veth-red", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.1/24")}},
			B: nettest.Endpoint{Node: "blue", Iface: "veth-blue", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.2/24")}},
		}},
	}
}

// build builds t for one test and closes it at the end.
func build(t testing.TB, topo nettest.Topology) *nettest.Network {
	t.Helper()
	testenv.RequirePrivilege(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := nettest.Build(ctx, topo)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func node(t testing.TB, n *nettest.Network, name string) *nettest.Node {
	t.Helper()
	nd, err := n.Node(name)
	require.NoError(t, err)
	return nd
}

func addr(t testing.TB, n *nettest.Network, ref string, f nettest.Family) netip.Addr {
	t.Helper()
	a, err := n.Addr(ref, f)
	require.NoError(t, err)
	return a
}

func ping(t testing.TB, from *nettest.Node, to netip.Addr) {
	t.Helper()
	_, err := icmpping.Ping(from, to, 2*time.Second)
	require.NoError(t, err, "ping %s from %s", to, from)
}

func noPing(t testing.TB, from *nettest.Node, to netip.Addr) {
	t.Helper()
	_, err := icmpping.Ping(from, to, 300*time.Millisecond)
	require.Error(t, err, "ping %s from %s answered, want no answer", to, from)
}

// TestSeed walks the seed tutorial's Examples 1-5 through the API.
func TestSeed(t *testing.T) {
	n := build(t, seedTopology())
	red, blue := node(t, n, "red"), node(t, n, "blue")

	// Example 3: `ip addr` inside red shows veth-red with 10.1.1.1/24, up,
	// as the kernel reports it (not as nettest planned it).
	require.NoError(t, red.Netlink(func(h *netlink.Handle) error {
		link, err := h.LinkByName("veth-red")
		require.NoError(t, err)
		require.Equal(t, netlink.LinkOperState(netlink.OperUp), link.Attrs().OperState)
		addrs, err := h.AddrList(link, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		require.Equal(t, "10.1.1.1/24", addrs[0].IPNet.String())
		return nil
	}))
	require.NoError(t, blue.Netlink(func(h *netlink.Handle) error {
		_, err := h.LinkByName("veth-red")
		require.Error(t, err, "veth-red must live only in red")
		return nil
	}))

	// Examples 4-5: ping both ways, the first packet after Build included,
	// and each node's loopback.
	ping(t, red, netip.MustParseAddr("10.1.1.2"))
	ping(t, blue, netip.MustParseAddr("10.1.1.1"))
	ping(t, red, netip.MustParseAddr("127.0.0.1"))
	ping(t, blue, netip.MustParseAddr("127.0.0.1"))
	ping(t, red, netip.MustParseAddr("10.1.1.1"))
}

// TestFirstPacketAfterBuild builds many pairs and pings once right after
// each Build, v4 and v6: readiness means no lost first packet.
func TestFirstPacketAfterBuild(t *testing.T) {
	for i := range 20 {
		n := build(t, nettest.Topology{
			Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
			Links: []nettest.LinkConfig{{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}}},
			Auto:  nettest.Auto{IPv4: true, IPv6: true},
		})
		f := nettest.IPv4
		if i%2 == 1 {
			f = nettest.IPv6
		}
		_, err := icmpping.Ping(node(t, n, "a"), addr(t, n, "b", f), 200*time.Millisecond)
		require.NoError(t, err, "round %d (%s)", i, f)
		require.NoError(t, n.Close())
	}
}
