package nettest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// chainTopology is n nodes in a line (n-1 links), automatically addressed
// as auto says.
func chainTopology(t *testing.T, n int, auto Auto) Topology {
	t.Helper()
	b := NewBuilder("chain").Auto(auto)
	var ends []string
	for i := range n {
		name := "n" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		b.Router(name)
		ends = append(ends, name)
	}
	topo, err := b.Chain(ends...).Topology()
	require.NoError(t, err)
	return topo
}

// linkAddrs returns each link's two IPv4 addresses, in order.
func linkAddrs(t *testing.T, topo Topology) [][2]netip.Prefix {
	t.Helper()
	p, err := topo.resolve()
	require.NoError(t, err)
	var out [][2]netip.Prefix
	for _, lp := range p.links {
		out = append(out, [2]netip.Prefix{lp.a.addrs[0], lp.b.addrs[0]})
	}
	return out
}

// TestAutoIPv4LinkBits31: with IPv4LinkBits 31 each link gets a /31 (RFC
// 3021), both its addresses used, so the default pool holds 32,768 links
// where it holds 16,384 /30s.
func TestAutoIPv4LinkBits31(t *testing.T) {
	got := linkAddrs(t, chainTopology(t, 3, Auto{IPv4: true, IPv4LinkBits: 31}))
	require.Equal(t, [][2]netip.Prefix{
		{netip.MustParsePrefix("198.18.0.0/31"), netip.MustParsePrefix("198.18.0.1/31")},
		{netip.MustParsePrefix("198.18.0.2/31"), netip.MustParsePrefix("198.18.0.3/31")},
	}, got)
	// The default stays /30.
	got = linkAddrs(t, chainTopology(t, 2, Auto{IPv4: true}))
	require.Equal(t, [2]netip.Prefix{netip.MustParsePrefix("198.18.0.1/30"), netip.MustParsePrefix("198.18.0.2/30")}, got[0])

	// 20,000 links: more than the default pool's /30s, not its /31s.
	big := Topology{Auto: Auto{IPv4: true, IPv4LinkBits: 31}, Nodes: []NodeConfig{{Name: "a"}, {Name: "b"}}}
	for range 20000 {
		big.Links = append(big.Links, LinkConfig{A: Endpoint{Node: "a"}, B: Endpoint{Node: "b"}})
	}
	require.NoError(t, big.Validate())
	// 50,001 links, as a chain of 50,000 routers has: /31s of a larger pool.
	for range 30001 {
		big.Links = append(big.Links, LinkConfig{A: Endpoint{Node: "a"}, B: Endpoint{Node: "b"}})
	}
	big.Auto.IPv4Links = netip.MustParsePrefix("10.0.0.0/8")
	require.NoError(t, big.Validate())
	big.Links = big.Links[:20000]
	big.Auto.IPv4Links = netip.Prefix{}
	big.Auto.IPv4LinkBits = 0
	err := big.Validate()
	require.ErrorContains(t, err, "automatic addressing: 198.18.0.0/16 has no free /30 left (it holds 16384 /30); give Auto.IPv4Links a larger pool (e.g. 10.0.0.0/8: 4,194,304 links), use /31 links (Auto.IPv4LinkBits = 31: twice as many), address IPv6 only (Auto{IPv6: true}), or give addresses yourself")

	for _, bits := range []int{24, 29, 32} {
		err := chainTopologyErr(Auto{IPv4: true, IPv4LinkBits: bits})
		require.ErrorContains(t, err, "auto: IPv4LinkBits: want 30 (or 0, the default) or 31")
	}
}

func chainTopologyErr(auto Auto) error {
	_, err := NewBuilder("chain").Auto(auto).Router("a", "b").Link("a", "b").Topology()
	return err
}

// TestAutoPoolExhaustedSaysHow: when a pool runs out, the error says which
// field gives more room, for each pool.
func TestAutoPoolExhaustedSaysHow(t *testing.T) {
	small := netip.MustParsePrefix("198.18.0.0/30")
	err := chainTopologyErr2(t, Auto{IPv4: true, IPv4Links: small, IPv4LinkBits: 31})
	require.ErrorContains(t, err, "198.18.0.0/30 has no free /31 left (it holds 2 /31); give Auto.IPv4Links a larger pool")
	err = chainTopologyErr2(t, Auto{IPv6: true, ULA: netip.MustParsePrefix("fd00:1:2:3::/63")})
	require.ErrorContains(t, err, "has no free /64 left (it holds 1 /64); give Auto.ULA a shorter prefix")
}

// chainTopologyErr2 validates a chain of four nodes (three links).
func chainTopologyErr2(t *testing.T, auto Auto) error {
	t.Helper()
	_, err := NewBuilder("chain").Auto(auto).Router("a", "b", "c", "d").Chain("a", "b", "c", "d").Topology()
	require.Error(t, err)
	return err
}

// TestBuildIPv4LinkBits31Routes: a chain addressed with /31s forwards end to
// end with automatic routes.
func TestBuildIPv4LinkBits31Routes(t *testing.T) {
	requirePrivilege(t)
	b := NewBuilder("p2p").Auto(Auto{IPv4: true, IPv4LinkBits: 31, Routes: true})
	n, err := b.Host("h1", "h2").Router("r1", "r2").Chain("h1", "r1", "r2", "h2").Build(context.Background())
	require.NoError(t, err)
	defer n.Close()
	h1, err := n.Node("h1")
	require.NoError(t, err)
	dst, err := n.Addr("h2", IPv4)
	require.NoError(t, err)
	require.True(t, netip.MustParsePrefix("198.18.0.0/16").Contains(dst))
	_, err = h1.Ping(context.Background(), dst, PingCount(1))
	require.NoError(t, err)
}
