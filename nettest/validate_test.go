package nettest_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func ep(node, iface string, addrs ...string) nettest.Endpoint {
	return nettest.Endpoint{Node: node, Iface: iface, Addrs: pfx(addrs...)}
}

func route(t *testing.T, s string) nettest.Route {
	r, err := nettest.ParseRoute(s)
	require.NoError(t, err)
	return r
}

// TestValidate feeds bad topologies to Validate, which needs no privilege,
// and checks that each error names the thing at fault.
func TestValidate(t *testing.T) {
	hosts := func(names ...string) []nettest.NodeConfig {
		var out []nettest.NodeConfig
		for _, n := range names {
			out = append(out, nettest.NodeConfig{Name: n})
		}
		return out
	}
	pair := func(a, b nettest.Endpoint) nettest.Topology {
		return nettest.Topology{Nodes: hosts("a", "b"), Links: []nettest.LinkConfig{{A: a, B: b}}}
	}
	withRoute := func(r ...nettest.Route) nettest.Topology {
		t := pair(ep("a", "eth0", "10.0.0.1/24"), ep("b", "eth0", "10.0.0.2/24"))
		t.Nodes[0].Routes = r
		return t
	}
	cases := []struct {
		name string
		topo nettest.Topology
		want []string // every one must appear in the error
	}{
		{"no nodes", nettest.Topology{}, []string{"topology: no nodes"}},
		{"duplicate node", nettest.Topology{Nodes: hosts("a", "a")}, []string{"node a: duplicate node name"}},
		{"empty node name", nettest.Topology{Nodes: hosts("")}, []string{"node #1: empty name"}},
		{"bad node name", nettest.Topology{Nodes: hosts("r/1")}, []string{`node r/1: name "r/1": character '/' not allowed`}},
		{"bad topology name", nettest.Topology{Name: "my topo", Nodes: hosts("a")}, []string{`topology: name "my topo": character ' ' not allowed`}},
		{"LAN named like a node", nettest.Topology{Nodes: hosts("a"), LANs: []nettest.LANConfig{{Name: "a", Members: []nettest.Endpoint{ep("a", "")}}}},
			[]string{"lan a: name is taken by a node"}},
		{"unknown node in link", pair(ep("a", ""), ep("c", "")), []string{`link a-c: end B: unknown node "c" (nodes: a, b)`}},
		{"unknown node in LAN", nettest.Topology{Nodes: hosts("a"), LANs: []nettest.LANConfig{{Name: "sw", Members: []nettest.Endpoint{ep("zz", "")}}}},
			[]string{`lan sw: member zz: unknown node "zz" (nodes: a)`}},
		{"LAN without members", nettest.Topology{Nodes: hosts("a"), LANs: []nettest.LANConfig{{Name: "sw"}}}, []string{"lan sw: no members"}},
		{"link to itself", nettest.Topology{Nodes: hosts("a"), Links: []nettest.LinkConfig{{A: ep("a", ""), B: ep("a", "")}}}, []string{"link a-a: joins node a to itself"}},
		{"interface name too long", pair(ep("a", "averyverylongname"), ep("b", "")),
			[]string{`link a-b: end a:averyverylongname: interface name "averyverylongname" is 17 bytes long; Linux allows at most 15`}},
		{"interface name with slash", pair(ep("a", "eth/0"), ep("b", "")), []string{`interface name "eth/0": character '/' not allowed`}},
		{"interface name with space", pair(ep("a", "eth 0"), ep("b", "")), []string{`interface name "eth 0": character ' ' not allowed`}},
		{"interface named lo", pair(ep("a", "lo"), ep("b", "")), []string{`interface name "lo" is the node's loopback`}},
		{"interface twice on a node", nettest.Topology{Nodes: hosts("a", "b"), Links: []nettest.LinkConfig{
			{A: ep("a", "x"), B: ep("b", "")}, {A: ep("a", "x"), B: ep("b", "")}}}, []string{"end a:x: node a has interface x twice"}},
		{"bad MTU", nettest.Topology{Nodes: hosts("a", "b"), Links: []nettest.LinkConfig{{A: ep("a", ""), B: ep("b", ""), MTU: 20}}},
			[]string{"link a-b: MTU 20 is outside 68..65535"}},
		{"IPv6 below 1280", nettest.Topology{Nodes: hosts("a", "b"), Links: []nettest.LinkConfig{{A: ep("a", "", "fd00::1/64"), B: ep("b", "", "fd00::2/64"), MTU: 1000}}},
			[]string{"interface a:eth0: MTU 1000 is below IPv6's minimum of 1280, but fd00::1/64 is IPv6"}},
		{"multicast MAC", pair(nettest.Endpoint{Node: "a", MAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}}, ep("b", "")), []string{"MAC 01:02:03:04:05:06 is not a 6-byte unicast address"}},
		{"network address", pair(ep("a", "", "10.0.0.0/24"), ep("b", "", "10.0.0.2/24")),
			[]string{"link a-b: interface a:eth0: address 10.0.0.0/24: is the network address of 10.0.0.0/24"}},
		{"broadcast address", pair(ep("a", "", "10.0.0.255/24"), ep("b", "", "10.0.0.2/24")), []string{"address 10.0.0.255/24: is the broadcast address"}},
		{"loopback address", pair(ep("a", "", "127.0.0.2/8"), ep("b", "")), []string{"address 127.0.0.2/8: loopback address"}},
		{"IPv6 link-local address", pair(ep("a", "", "fe80::1/64"), ep("b", "")), []string{"address fe80::1/64: IPv6 link-local address"}},
		{"duplicate address", pair(ep("a", "", "10.0.0.1/24"), ep("b", "", "10.0.0.1/24")),
			[]string{"interface b:eth0: address 10.0.0.1/24: duplicate: a:eth0 has it already"}},
		{"overlapping subnets", nettest.Topology{Nodes: hosts("a", "b", "c"), Links: []nettest.LinkConfig{
			{A: ep("a", "", "10.0.0.1/24"), B: ep("b", "", "10.0.0.2/24")},
			{A: ep("b", "", "10.0.0.129/25"), B: ep("c", "", "10.0.0.130/25")}}},
			[]string{"link b-c: interface b:eth1: address 10.0.0.129/25: subnet 10.0.0.128/25 overlaps 10.0.0.0/24 on link a-b (a:eth0)"}},
		{"gateway on no connected subnet", withRoute(route(t, "default via 10.9.9.9")),
			[]string{"node a: route default via 10.9.9.9: gateway 10.9.9.9 is on no connected subnet of a (it has eth0 10.0.0.0/24)"}},
		{"gateway is own address", withRoute(route(t, "10.5.0.0/16 via 10.0.0.1")), []string{"gateway 10.0.0.1 is a:eth0's own address"}},
		{"route to unknown interface", withRoute(route(t, "10.5.0.0/16 dev eth7")), []string{`node a: route 10.5.0.0/16 dev eth7: node a has no interface "eth7" (it has eth0)`}},
		{"route with host bits", withRoute(route(t, "10.5.0.1/16 via 10.0.0.2")), []string{"destination 10.5.0.1/16 has host bits set; did you mean 10.5.0.0/16?"}},
		{"route family mismatch", withRoute(route(t, "fd00:9::/64 via 10.0.0.2")), []string{"gateway 10.0.0.2 is IPv4 but the destination is IPv6"}},
		{"route without next hop", withRoute(nettest.Route{Dst: netip.MustParsePrefix("10.5.0.0/16")}), []string{"needs a gateway (via), an interface (dev) or nexthops"}},
		{"default route without gateway", withRoute(route(t, "default dev eth0")), []string{"a default route without a gateway is ambiguous"}},
		{"duplicate route", withRoute(route(t, "10.5.0.0/16 via 10.0.0.2"), route(t, "10.5.0.0/16 via 10.0.0.2")), []string{"duplicate route: another route to 10.5.0.0/16 with metric 0"}},
		{"sysctl outside net", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a", Sysctls: map[string]string{"kernel.panic": "1"}}}},
			[]string{`node a: sysctl "kernel.panic" is not under net.`}},
		{"bad kind", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a", Kind: 7}}}, []string{"node a: kind 7 is neither Host nor Router"}},
	}
	require.GreaterOrEqual(t, len(cases), 15)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.topo.Validate()
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
			var ce *nettest.ConfigError
			require.True(t, errors.As(err, &ce), "errors are *ConfigError: %T", err)
		})
	}
}

// TestValidateReportsEveryProblem: all problems come back at once, one line
// each, not just the first.
func TestValidateReportsEveryProblem(t *testing.T) {
	topo := nettest.Topology{
		Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "a"}, {Name: "b", Routes: []nettest.Route{route(t, "default via 10.9.9.9")}}},
		Links: []nettest.LinkConfig{{A: ep("a", "waytoolonginterface"), B: ep("nope", "")}},
	}
	err := topo.Validate()
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4, "%v", err)
	require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 4)
	require.Contains(t, lines[2], `interface name "waytoolonginterface" is 19 bytes long`)
	require.Contains(t, lines[3], "node b: route default via 10.9.9.9: gateway 10.9.9.9 is on no connected subnet of b (it has no addresses)")
}

// TestBuilderErrors: the builder's own parse errors come with the rest.
func TestBuilderErrors(t *testing.T) {
	_, err := nettest.NewBuilder("b").Host("a", "b").
		Link("a:eth0=10.0.0.300/24", "b:eth0=10.0.0.2").
		Route("a", "10.0.0.0/8 vai 10.0.0.2").
		Route("ghost", "default via 10.0.0.1").
		Topology()
	require.Error(t, err)
	for _, w := range []string{
		"link a:eth0=10.0.0.300/24 <-> b:eth0=10.0.0.2: end a:eth0: address 10.0.0.300/24: invalid",
		"end b:eth0: address 10.0.0.2: missing prefix length (write it as 10.0.0.2/24 or 10.0.0.2/64)",
		`node a: route "10.0.0.0/8 vai 10.0.0.2": unknown word "vai"`,
		"node ghost: routes given for an unknown node",
	} {
		require.Contains(t, err.Error(), w)
	}
}

// TestValidateAcceptsGoodTopologies: what the other tests build validates.
func TestValidateAcceptsGoodTopologies(t *testing.T) {
	require.NoError(t, seedTopology().Validate())
	_, err := nettest.NewBuilder("ok").Host("h1", "h2").Router("r1", "r2").
		Chain("h1", "r1", "r2", "h2").LAN("sw", []string{"r1", "h1"}).
		Route("h1", "192.0.2.0/24 via 198.18.0.2").Topology()
	require.NoError(t, err)
}
