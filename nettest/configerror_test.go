package nettest_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestConfigErrorFields: every problem Validate finds names the element at
// fault by its fields, not only in its text.
func TestConfigErrorFields(t *testing.T) {
	pfx := netip.MustParsePrefix
	ep := func(node string, addrs ...string) nettest.Endpoint {
		e, err := nettest.ParseEndpoint(node)
		require.NoError(t, err)
		for _, a := range addrs {
			e.Addrs = append(e.Addrs, pfx(a))
		}
		return e
	}
	two := []nettest.NodeConfig{{Name: "a"}, {Name: "b"}}
	type want struct {
		text                       string
		node                       string
		nodeIdx, linkIdx, lanIdx   int
		link, lan, end, field, val string
		member, route              int
		sysctl                     string
	}
	none := want{nodeIdx: -1, linkIdx: -1, lanIdx: -1, member: -1, route: -1}
	with := func(f func(*want)) want { w := none; f(&w); return w }
	for _, tc := range []struct {
		name string
		t    nettest.Topology
		want want
	}{
		{"node name", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b c"}}},
			with(func(w *want) {
				w.text, w.node, w.nodeIdx, w.field, w.val = `node b c: name "b c"`, "b c", 1, "Name", "b c"
			})},
		{"duplicate node", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "a"}}},
			with(func(w *want) {
				w.text, w.node, w.nodeIdx, w.field, w.val = "node a: duplicate node name", "a", 1, "Name", "a"
			})},
		{"sysctl", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a", Sysctls: map[string]string{"kernel.x": "1"}}}},
			with(func(w *want) {
				w.text, w.node, w.nodeIdx, w.sysctl, w.field, w.val = `node a: sysctl "kernel.x" is not under net.`, "a", 0, "kernel.x", "Sysctls", "kernel.x"
			})},
		{"link MTU", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{A: ep("a"), B: ep("b"), MTU: 10}}},
			with(func(w *want) { w.text, w.link, w.linkIdx, w.field, w.val = "link a-b: MTU 10", "a-b", 0, "MTU", "10" })},
		{"unknown node at end B", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{A: ep("a"), B: ep("b")}, {A: ep("a"), B: ep("zz")}}},
			with(func(w *want) {
				w.text, w.link, w.linkIdx, w.end, w.field, w.val = `link a-zz: end B: unknown node "zz"`, "a-zz", 1, "B", "Node", "zz"
			})},
		{"bad interface name at end A", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{A: nettest.Endpoint{Node: "a", Iface: "lo"}, B: ep("b")}}},
			with(func(w *want) {
				w.text, w.link, w.linkIdx, w.end, w.field, w.val = "link a-b: end a:lo: interface name", "a-b", 0, "A", "Iface", "lo"
			})},
		{"address", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{Name: "l1", A: ep("a", "10.0.0.1/24"), B: ep("b", "127.0.0.2/8")}}},
			with(func(w *want) {
				w.text, w.node, w.nodeIdx, w.link, w.linkIdx, w.end, w.field, w.val = "link l1: interface b:eth0: address 127.0.0.2/8: loopback", "b", 1, "l1", 0, "B", "Addrs", "127.0.0.2/8"
			})},
		{"impairment", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{A: ep("a"), B: ep("b"), Impair: nettest.Impairments{BA: nettest.Impairment{Delay: time.Millisecond, Jitter: time.Second}}}}},
			with(func(w *want) {
				w.text, w.link, w.linkIdx, w.field, w.val = "link a-b: impairment B->A: jitter 1s is larger", "a-b", 0, "Impair.BA.Jitter", "1s"
			})},
		{"mechanism", nettest.Topology{Nodes: two, Links: []nettest.LinkConfig{{A: ep("a"), B: ep("b"), ImpairVia: nettest.MechanismNone, Impair: nettest.Both(nettest.Impairment{Loss: 0.1})}}},
			with(func(w *want) {
				w.text, w.link, w.linkIdx, w.field, w.val = "link a-b: mechanism none cannot", "a-b", 0, "ImpairVia", "none"
			})},
		{"LAN member", nettest.Topology{Nodes: two, LANs: []nettest.LANConfig{{Name: "s", Members: []nettest.Endpoint{ep("a"), ep("q")}}}},
			with(func(w *want) {
				w.text, w.lan, w.lanIdx, w.member, w.field, w.val = `lan s: member q: unknown node "q"`, "s", 0, 1, "Node", "q"
			})},
		{"route", nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a", Routes: []nettest.Route{
			{Dst: pfx("10.9.0.0/16"), Dev: "eth0"}, {Dst: pfx("10.8.0.0/16"), Via: netip.MustParseAddr("192.0.2.1")}}}, {Name: "b"}},
			Links: []nettest.LinkConfig{{A: ep("a"), B: ep("b")}}},
			with(func(w *want) {
				w.text, w.node, w.nodeIdx, w.route, w.val = "node a: route 10.8.0.0/16 via 192.0.2.1: gateway 192.0.2.1 is on no connected subnet", "a", 0, 1, "10.8.0.0/16 via 192.0.2.1"
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.Validate()
			require.Error(t, err)
			var ce *nettest.ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			require.ErrorContains(t, ce, tc.want.text)
			got := want{text: tc.want.text, node: ce.Node, nodeIdx: ce.NodeIndex, linkIdx: ce.LinkIndex, lanIdx: ce.LANIndex,
				link: ce.Link, lan: ce.LAN, end: ce.End, field: ce.Field, val: ce.Value, member: ce.Member, route: ce.Route, sysctl: ce.Sysctl}
			require.Equal(t, tc.want, got, "%v", ce)
		})
	}
}

// TestResolveInvalid: Resolve names interfaces, links and automatic
// addresses of a topology Validate refuses, beside its error.
func TestResolveInvalid(t *testing.T) {
	top := nettest.Topology{
		Auto:  nettest.Auto{IPv4: true},
		Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}, {Name: "c", Kind: 7}},
		Links: []nettest.LinkConfig{
			{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b", Iface: "up"}},
			{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}},
			{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "nowhere"}},
		},
		LANs: []nettest.LANConfig{{Name: "s", Members: []nettest.Endpoint{{Node: "a"}, {Node: "c"}, {Node: "ghost"}}}},
	}
	r, err := top.Resolve()
	require.ErrorContains(t, err, "kind 7 is neither Host nor Router")
	require.ErrorContains(t, err, `link a-nowhere: end B: unknown node "nowhere"`)
	require.ErrorContains(t, err, `lan s: member ghost: unknown node "ghost"`)

	require.Equal(t, []string{"a-b", "a-b-2", "a-nowhere"}, []string{r.Links[0].Name, r.Links[1].Name, r.Links[2].Name})
	require.Equal(t, nettest.ResolvedLink{Name: "a-b", A: "a:eth0", B: "b:up"}, r.Links[0])
	require.Equal(t, nettest.ResolvedLink{Name: "a-b-2", A: "a:eth1", B: "b:eth0"}, r.Links[1])
	require.Equal(t, nettest.ResolvedLink{Name: "a-nowhere"}, r.Links[2])
	require.Equal(t, []string{"a:eth2", "c:eth0", ""}, r.LANs[0].Members)

	byNode := map[string]nettest.ResolvedNode{}
	for _, n := range r.Nodes {
		byNode[n.Name] = n
	}
	require.True(t, byNode["s"].Switch)
	var names []string
	for _, i := range byNode["s"].Interfaces {
		names = append(names, i.Name)
	}
	require.Equal(t, []string{"br0", "a", "c"}, names)
	a := byNode["a"].Interfaces
	require.Len(t, a, 3)
	require.Equal(t, "a-b", a[0].Link)
	require.Equal(t, "s", a[2].LAN)
	// Automatic addresses, from the benchmarking range.
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for _, i := range append(a, byNode["b"].Interfaces...) {
		require.Len(t, i.Addrs, 1, "%s", i)
		require.True(t, bench.Contains(i.Addrs[0].Addr()), "%s: %s", i, i.Addrs[0])
	}
}

// TestBuildSysctlRefusedIsConfigError: a sysctl the kernel refuses at
// Build is a ConfigError naming the node and the sysctl, wrapping the
// kernel's error.
func TestBuildSysctlRefusedIsConfigError(t *testing.T) {
	testenv.RequirePrivilege(t)
	top := nettest.Topology{Nodes: []nettest.NodeConfig{{Name: "a", Sysctls: map[string]string{"net.core.rmem_max": "1000000"}}, {Name: "b"}},
		Links: []nettest.LinkConfig{{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}}}}
	n, err := nettest.Build(context.Background(), top)
	if err == nil {
		n.Close()
		t.Skip("this kernel lets a network namespace write net.core.rmem_max")
	}
	var ce *nettest.ConfigError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "a", ce.Node)
	require.Equal(t, 0, ce.NodeIndex)
	require.Equal(t, "net.core.rmem_max", ce.Sysctl)
	require.Equal(t, "Value", ce.Field)
	require.Equal(t, "1000000", ce.Value)
	require.ErrorIs(t, err, fs.ErrPermission)
	require.ErrorContains(t, err, "nettest: node a: sysctl /proc/sys/net/core/rmem_max")
}
