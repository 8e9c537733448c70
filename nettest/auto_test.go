package nettest

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAutoPools: the pools of automatic addressing are fields of Auto, the
// zero value meaning the documented defaults, and a pool that cannot serve
// is a ConfigError.
func TestAutoPools(t *testing.T) {
	addrsOf := func(a Auto) (string, error) {
		topo := Topology{Auto: a, Nodes: []NodeConfig{{Name: "h1"}, {Name: "h2"}, {Name: "h3"}},
			Links: []LinkConfig{{A: Endpoint{Node: "h1"}, B: Endpoint{Node: "h2"}}},
			LANs:  []LANConfig{{Name: "lan", Members: []Endpoint{{Node: "h2"}, {Node: "h3"}}}}}
		p, err := topo.resolve()
		if err != nil {
			return "", err
		}
		var s []string
		for _, n := range []string{"h1", "h3"} {
			for _, a := range p.byName[n].ifaces[0].addrs {
				s = append(s, a.String())
			}
		}
		return strings.Join(s, " "), nil
	}
	got, err := addrsOf(Auto{IPv4: true, IPv6: true})
	require.NoError(t, err)
	require.Equal(t, "198.18.0.1/30 fdf6:fd81:8f7e::1/64 198.19.0.2/24 fdf6:fd81:8f7e:8000::2/64", got)

	got, err = addrsOf(Auto{IPv4: true, IPv6: true,
		IPv4Links: netip.MustParsePrefix("10.200.0.0/16"),
		IPv4LANs:  netip.MustParsePrefix("10.201.0.0/16"),
		ULA:       netip.MustParsePrefix("fd12:3456:789a::/48")})
	require.NoError(t, err)
	require.Equal(t, "10.200.0.1/30 fd12:3456:789a::1/64 10.201.0.2/24 fd12:3456:789a:8000::2/64", got)

	_, err = addrsOf(Auto{IPv4: true,
		IPv4Links: netip.MustParsePrefix("fd00::/64"),
		IPv4LANs:  netip.MustParsePrefix("10.201.0.0/25"),
		ULA:       netip.MustParsePrefix("fd12:3456:789a::/64")})
	require.Error(t, err)
	for _, want := range []string{
		"auto: IPv4Links fd00::/64: want an IPv4 prefix of /30 or shorter",
		"auto: IPv4LANs 10.201.0.0/25: want an IPv4 prefix of /24 or shorter",
		"auto: ULA fd12:3456:789a::/64: want an IPv6 prefix of /63 or shorter",
	} {
		require.Contains(t, err.Error(), want)
	}
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
}
