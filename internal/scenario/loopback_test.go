package scenario_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
)

// policyScenario: h1 and h2 behind r1, which reaches srv's loopback by ra
// (main table, automatic routes) or, for what h2 sends, by rb (table 100).
// With ra forwarding nothing, only h2 gets through, in both families.
const policyScenario = `name: policy
topology:
  nodes:
    - {name: r1, kind: router, loopback: auto}
    - {name: ra, kind: router}
    - {name: rb, kind: router}
    - h1
    - h2
    - {name: srv, loopback: [10.255.0.9, "fd00:255::9"]}
  links:
    - endpoints: [h1, r1]
    - endpoints: [h2, r1]
    - endpoints: [r1, ra]
    - endpoints: [r1, rb]
    - endpoints: [srv, rb]
    - endpoints: [srv, ra]
  auto: {routes: true, loopbacks: true}
  routes:
    r1: [10.255.0.9 via rb table 100, "fd00:255::9 via rb table 100"]
  rules:
    r1: from h2 table 100
steps:
  - ping: {from: h1, to: srv:lo}
  - ping: {from: srv:lo, to: ra:lo}
  - default-deny: {node: ra, direction: forward}
  - no-ping: {from: h1, to: srv:lo, timeout: 300ms}
  - ping: {from: h2, to: srv:lo}
`

// TestParseLoopbackAndRules: loopback: and rules: reach the topology.
func TestParseLoopbackAndRules(t *testing.T) {
	s, err := scenario.Parse("t.yaml", []byte(policyScenario), nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := s.Topology.Nodes
	if !nodes[0].AutoLoopback || !s.Topology.Auto.Loopbacks {
		t.Errorf("r1: loopback: auto and auto: loopbacks read as %v, %v", nodes[0].AutoLoopback, s.Topology.Auto.Loopbacks)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.255.0.9"), netip.MustParseAddr("fd00:255::9")}; !slices.Equal(nodes[5].Loopback, want) {
		t.Errorf("srv's loopback = %v, want %v", nodes[5].Loopback, want)
	}
	if len(nodes[0].Rules) != 1 || nodes[0].Rules[0].String() != "from h2 table 100" || nodes[0].Routes[0].Table != 100 {
		t.Errorf("r1's rules = %v, routes %v", nodes[0].Rules, nodes[0].Routes)
	}
}

// TestParseLoopbackErrors: mistakes in loopback:, rules: and node:lo
// targets are reported where they are written.
func TestParseLoopbackErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"bad address", `topology:
  nodes: [{name: r1, loopback: [10.0.0.1/24]}]
`, "t.yaml:2:33: node r1: loopback 10.0.0.1/24: a loopback address is a host address: /32 or no prefix length"},
		{"engine's problem", `topology:
  nodes: [a, {name: r1, loopback: [10.255.0.1, 10.0.0.1]}]
  links: [{endpoints: [a 10.0.0.2/24, r1 10.0.0.3/24]}]
`, "t.yaml:2:48: node r1: loopback 10.0.0.1: lies in subnet 10.0.0.0/24 of link a-r1; a loopback address must be on no link or LAN"},
		{"auto and addresses", `topology:
  nodes: [{name: r1, loopback: [auto, 10.0.0.1]}]
`, "t.yaml:2:33: node r1: loopback: auto stands alone: give addresses or auto, not both"},
		{"auto without addressing", `topology:
  nodes: [{name: r1, loopback: auto}]
  auto: {ipv4: false, ipv6: false}
`, "t.yaml:2:32: node r1: an automatic loopback needs automatic IPv4 or IPv6 addressing (Auto.IPv4, Auto.IPv6); give its addresses instead"},
		{"rule syntax", `topology:
  nodes: [r1]
  rules: {r1: [from 10.0.0.1]}
`, `t.yaml:3:16: node r1: rule "from 10.0.0.1": no table: say which table the rule looks up (table 100)`},
		{"rule's node", `topology:
  nodes: [r1]
  rules: {r1: [table 100, from h9 table 100]}
`, `t.yaml:3:27: node r1: rule from h9 table 100: from h9: no node "h9"`},
		{"rules' node", `topology:
  nodes: [r1]
  rules: {r9: [table 100]}
`, `t.yaml:3:11: rules: unknown node "r9" (nodes: r1)`},
		{"route table", `topology:
  nodes: [r1, r2]
  links: [{endpoints: [r1, r2]}]
  routes: {r1: [10.0.0.0/8 via r2 table 255]}
`, "t.yaml:4:17: node r1: route 10.0.0.0/8 via r2 table 255: table 255 is the kernel's local table; pick another (1 to 252, or above 255)"},
		{"no loopback", `topology:
  nodes: [a, b]
  links: [{endpoints: [a, b]}]
steps:
  - ping: {from: a, to: b:lo}
`, "t.yaml:5:25: b:lo: node b has no loopback address (give it one: loopback: auto, or auto: {loopbacks: true} for every router)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, tc.src, nil)
			if !slices.Contains(errs, tc.want) {
				t.Errorf("got\n%q\nwant the line\n%s", errs, tc.want)
			}
		})
	}
}

// TestRunLoopbackAndRules runs policyScenario.
func TestRunLoopbackAndRules(t *testing.T) {
	passes(t, execute(t, policyScenario, scenario.Options{}))
}
