package nettest_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// resolvedNode returns the node of that name in r.
func resolvedNode(t *testing.T, r nettest.Resolved, name string) nettest.ResolvedNode {
	t.Helper()
	for _, n := range r.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s in %+v", name, r.Nodes)
	return nettest.ResolvedNode{}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestLoopbackResolve: loopbacks are given, or automatic from their own
// pool (only where asked: one node, or every router with Loopbacks), and
// leave the links' automatic addresses as they were.
func TestLoopbackResolve(t *testing.T) {
	chain := func(b *nettest.Builder) *nettest.Builder {
		return b.Host("h1").Router("r1", "r2", "r3").Chain("h1", "r1", "r2", "r3")
	}
	plain, err := chain(nettest.NewBuilder("lo")).Topology()
	require.NoError(t, err)
	before, err := plain.Resolve()
	require.NoError(t, err)
	for _, n := range before.Nodes {
		require.Empty(t, n.Loopback, "node %s has a loopback nobody asked for", n.Name)
	}

	topo, err := chain(nettest.NewBuilder("lo")).Loopback("r2", "10.255.0.2", "fd00:255::2/128").Loopbacks().
		Auto(nettest.Auto{IPv4: true, IPv6: true, Routes: true}). // after Loopbacks: keeps it
		Topology()
	require.NoError(t, err)
	res, err := topo.Resolve()
	require.NoError(t, err)
	require.Equal(t, addrs("198.19.240.1", "fdf6:fd81:8f7e:ffff::1"), resolvedNode(t, res, "r1").Loopback)
	require.Equal(t, addrs("10.255.0.2", "fd00:255::2"), resolvedNode(t, res, "r2").Loopback)
	require.Equal(t, addrs("198.19.240.2", "fdf6:fd81:8f7e:ffff::2"), resolvedNode(t, res, "r3").Loopback)
	require.Empty(t, resolvedNode(t, res, "h1").Loopback, "a host gets a loopback only when asked")
	for i := range before.Nodes {
		require.Equal(t, before.Nodes[i].Interfaces, res.Nodes[i].Interfaces, "loopbacks moved %s's addresses", res.Nodes[i].Name)
	}
	// h1 reaches every loopback through r1, in both families.
	var dsts []string
	for _, r := range resolvedNode(t, res, "h1").Routes {
		if r.Dst.IsSingleIP() {
			dsts = append(dsts, r.Dst.String())
		}
	}
	require.ElementsMatch(t, []string{"198.19.240.1/32", "fdf6:fd81:8f7e:ffff::1/128", "10.255.0.2/32", "fd00:255::2/128",
		"198.19.240.2/32", "fdf6:fd81:8f7e:ffff::2/128"}, dsts)

	// One node asks, in Go: NodeConfig.AutoLoopback; a custom IPv4 pool.
	topo.Auto.Loopbacks = false
	topo.Auto.IPv4Loopbacks = netip.MustParsePrefix("10.99.0.0/24")
	topo.Nodes[0].AutoLoopback = true
	res, err = topo.Resolve()
	require.NoError(t, err)
	require.Equal(t, addrs("10.99.0.1", "fdf6:fd81:8f7e:ffff::1"), resolvedNode(t, res, "h1").Loopback)
	require.Empty(t, resolvedNode(t, res, "r1").Loopback)
}

// TestLoopbackErrors: every mistake names the node and the address.
func TestLoopbackErrors(t *testing.T) {
	_, err := nettest.NewBuilder("lo").Router("r1", "r2").
		Link("r1=10.0.0.1/24", "r2=10.0.0.2/24").
		Loopback("r1", "10.0.0.7", "127.0.0.2", "10.9.0.1/24", "10.255.0.1").
		Loopback("r2", "10.255.0.1", "10.0.0.2").
		Loopback("nope").
		Topology()
	require.Error(t, err)
	for _, want := range []string{
		"node r1: loopback 10.0.0.7: lies in subnet 10.0.0.0/24 of link r1-r2",
		"node r1: loopback 127.0.0.2: is lo's own address",
		"loopback 10.9.0.1/24: a loopback address is a host address",
		"node r2: loopback 10.255.0.1: duplicate: r1's loopback has it already",
		"node r2: loopback 10.0.0.2: duplicate: r2:eth0 has it already",
		"node nope: loopback given for an unknown node",
	} {
		require.ErrorContains(t, err, want)
	}
	var ce *nettest.ConfigError
	require.True(t, errors.As(err, &ce))

	_, err = nettest.NewBuilder("lo").Router("r1").Auto(nettest.Auto{Routes: true}).Loopback("r1").Topology()
	require.ErrorContains(t, err, "node r1: an automatic loopback needs automatic IPv4 or IPv6 addressing")
}

// TestLoopbackReachable: every node reaches every router's loopback on
// automatic routes, IPv4 and IPv6, by "r3:lo" wherever a reference is
// read, and still after a link on the way goes down.
func TestLoopbackReachable(t *testing.T) {
	testenv.RequirePrivilege(t)
	n, err := nettest.NewBuilder("lo").Host("h1").Router("r1", "r2", "r3", "r4").
		Chain("r1", "r2", "r3", "r4", "r1").Link("h1", "r1").Loopbacks().Build(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })

	r3 := node(t, n, "r3")
	id, err := r3.RouterID()
	require.NoError(t, err)
	require.Equal(t, "198.19.240.3", id.String())
	_, err = node(t, n, "h1").RouterID()
	require.ErrorContains(t, err, "node h1 has no IPv4 loopback address")

	tg, err := n.Lookup("r3:lo")
	require.NoError(t, err)
	require.True(t, tg.Loopback)
	require.Equal(t, r3, tg.Node)
	require.Equal(t, r3.Loopback(), tg.Addrs())
	_, err = n.Lookup("h1:lo")
	require.ErrorContains(t, err, "node h1 has no loopback address")

	var h struct {
		ID4 netip.Addr   `nettest:"r3:lo"`
		ID6 netip.Prefix `nettest:"r3:lo,ipv6"`
	}
	require.NoError(t, n.Assign(&h))
	require.Equal(t, id, h.ID4)
	require.Equal(t, "fdf6:fd81:8f7e:ffff::3/128", h.ID6.String())

	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		ping(t, node(t, n, "h1"), addr(t, n, "r3:lo", f))
		ping(t, node(t, n, "r2"), addr(t, n, "r4:lo", f))
	}
	// The way from h1 to r3 goes r1-r2 (the first link of r1's); cut it.
	cut, err := n.Link("r1-r2")
	require.NoError(t, err)
	require.NoError(t, cut.SetDown())
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		ping(t, node(t, n, "h1"), addr(t, n, "r3:lo", f))
		ping(t, node(t, n, "h1"), addr(t, n, "r2:lo", f))
	}

	var b strings.Builder
	require.NoError(t, r3.Report(&b))
	require.Contains(t, b.String(), "198.19.240.3/32")
	require.Contains(t, b.String(), "fdf6:fd81:8f7e:ffff::3/128")
}
