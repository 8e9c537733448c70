package scenario_test

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/examples/scenarios"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// parseErrs parses src as "t.yaml" and returns its error lines.
func parseErrs(t *testing.T, src string, set map[string]string) []string {
	t.Helper()
	_, err := scenario.Parse("t.yaml", []byte(src), set)
	if err == nil {
		return nil
	}
	var es scenario.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want scenario.Errors: %v", err, err)
	}
	return strings.Split(es.Error(), "\n")
}

const pair = `
name: p
topology:
  nodes: [a, b]
  links:
    - endpoints: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]
`

// TestParseExamples: every example scenario parses, and the seed is the
// tutorial's topology.
func TestParseExamples(t *testing.T) {
	files, _ := fs.Glob(scenarios.Files, "*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d example scenarios, want at least 4", len(files))
	}
	for _, f := range files {
		data, _ := scenarios.Files.ReadFile(f)
		s, err := scenario.Parse(f, data, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(s.Steps) == 0 {
			t.Errorf("%s: no steps", f)
		}
	}
	data, _ := scenarios.Files.ReadFile("seed.yaml")
	s, err := scenario.Parse("seed.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Topology.Links[0]
	if got := l.A.String() + " " + l.A.Addrs[0].String() + " " + l.B.String() + " " + l.B.Addrs[0].String(); got != "red:veth-red 10.1.1.1/24 blue:veth-blue 10.1.1.2/24" {
		t.Errorf("seed link = %s", got)
	}
	if s.FullName(s.Steps[1]) != "seed/02 ping red -> 10.1.1.2" {
		t.Errorf("step 2 is named %q", s.FullName(s.Steps[1]))
	}
}

// TestParseErrors: each kind of mistake gives its file:line:col line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string
	}{
		{"yaml syntax", "name: [x\n", "t.yaml:1:1: did not find expected ',' or ']'"},
		{"empty", "", "t.yaml:1:1: the file is empty: want a scenario (name, topology, steps)"},
		{"not a mapping", "- a\n", "t.yaml:1:1: want a mapping (key: value), got a list"},
		{"unknown key", pair + "stepz: []\n", `t.yaml:7:1: unknown key "stepz" (did you mean "steps"?) (want name, description, requires, params, topology, steps)`},
		{"unknown nested key", strings.Replace(pair, "endpoints:", "endpoint:", 1), `t.yaml:6:7: topology.links[0]: unknown key "endpoint" (did you mean "endpoints"?) (want name, endpoints, mtu, impair, impair-via)`},
		{"missing key", "name: x\n", `t.yaml:1:1: missing key "topology"`},
		{"wrong type", pair + "  auto: {ipv4: maybe}\n", `t.yaml:7:16: topology.auto.ipv4: want true or false, got "maybe"`},
		{"wrong type int", strings.Replace(pair, "b:eth0 10.0.0.2/24]", "b:eth0 10.0.0.2/24]\n      mtu: big", 1), `t.yaml:7:12: topology.links[0].mtu: want an integer, got "big"`},
		{"list wanted", strings.Replace(pair, "[a, b]", "a", 1), `t.yaml:4:10: topology.nodes: want a list, got "a"`},
		{"duplicate key", pair + "name: q\n", `t.yaml:7:1: duplicate key "name" (first at line 2)`},
		{"duplicate node", strings.Replace(pair, "[a, b]", "[a, b, a]", 1), "t.yaml:4:17: node a: duplicate node name"},
		{"bad CIDR", strings.Replace(pair, "10.0.0.2/24", "10.0.0.300/24", 1), "t.yaml:6:46: endpoint b:eth0: address 10.0.0.300/24: invalid"},
		{"no prefix length", strings.Replace(pair, "10.0.0.2/24", "10.0.0.2", 1), "t.yaml:6:46: endpoint b:eth0: address 10.0.0.2: missing prefix length (write it as 10.0.0.2/24 or 10.0.0.2/64)"},
		{"unknown node in link", strings.Replace(pair, "b:eth0", "c:eth0", 1), `t.yaml:6:39: link a-c: end B: unknown node "c" (nodes: a, b)`},
		{"unknown node in step", pair + "steps:\n  - ping: {from: a, to: zz}\n", `t.yaml:8:25: unknown node "zz" (nodes: a, b)`},
		{"unknown node in routes", pair + "  routes: {zz: [default via a]}\n", `t.yaml:7:12: routes: unknown node "zz" (nodes: a, b)`},
		{"bad route", pair + "  routes: {a: [10.0.0.0/8 vai 10.0.0.2]}\n", `t.yaml:7:16: node a: route "10.0.0.0/8 vai 10.0.0.2": unknown word "vai" (want via, dev, metric, table, nexthop or weight)`},
		{"engine route error", pair + "  routes:\n    a: [default via 10.9.9.9]\n", "t.yaml:8:9: node a: route default via 10.9.9.9: gateway 10.9.9.9 is on no connected subnet of a (it has eth0 10.0.0.0/24)"},
		{"overlap", pair + "    - endpoints: [a:eth1 10.0.0.129/25, b:eth1 10.0.0.130/25]\n", "t.yaml:7:26: link a-b-2: interface a:eth1: address 10.0.0.129/25: subnet 10.0.0.128/25 overlaps 10.0.0.0/24 on link a-b (a:eth0)"},
		{"mtu range", strings.Replace(pair, "b:eth0 10.0.0.2/24]", "b:eth0 10.0.0.2/24]\n      mtu: 10", 1), "t.yaml:7:12: link a-b: MTU 10 is outside 68..65535"},
		{"sysctl", strings.Replace(pair, "[a, b]", "[{name: a, sysctls: {kernel.x: 1}}, b]", 1), `t.yaml:4:30: node a: sysctl "kernel.x" is not under net.: only per-namespace net.* sysctls can be set in a node`},
		{"kind", strings.Replace(pair, "[a, b]", "[{name: a, kind: switch}, b]", 1), `t.yaml:4:27: node a: kind "switch": want host or router`},
		{"two actions", pair + "steps:\n  - ping: {from: a, to: b}\n    no-ping: {from: a, to: b}\n", "t.yaml:8:5: step 1: ping and no-ping: one action per step (make them separate steps)"},
		{"no action", pair + "steps:\n  - name: nothing\n", "t.yaml:8:5: step 1: nothing to do: give one of ping, no-ping, dial, route, converged, exec, saw-packet, no-packet, link-down, link-up, iface-down, iface-up, impair, flap, partition, isolate, heal, start, stop, allow, deny, reject, default-deny, default-allow, firewall-clear, masquerade, snat, port-forward, nat-clear, capture, capture-stop, eventually"},
		{"bad duration", pair + "steps:\n  - eventually: {within: 5, step: {ping: {from: a, to: b}}}\n", `t.yaml:8:26: steps[0].eventually.within: "5" is not a duration: write it as 5s, 200ms or 1m30s`},
		{"enum", pair + "steps:\n  - dial: {from: a, to: b, port: 80, expect: closed}\n", `t.yaml:8:46: expect "closed": want open, refused or timeout`},
		{"unknown link", pair + "steps:\n  - link-down: b-a\n", `t.yaml:8:16: unknown link "b-a" (links: a-b; or name an end as node:iface)`},
		{"unknown process", pair + "steps:\n  - stop: web\n", `t.yaml:8:11: unknown process "web" (processes: none)`},
		{"unknown parameter", pair + "steps:\n  - ping: {from: a, to: \"${X}\"}\n", "t.yaml:8:25: steps[0].ping.to: unknown parameter ${X} (declared: none; write $${X} for a literal ${X})"},
		{"builtin outside process", pair + "steps:\n  - ping: {from: a, to: \"${NODE}\"}\n", "t.yaml:8:25: steps[0].ping.to: ${NODE} is known only in processes"},
		{"bad regex", pair + "steps:\n  - exec: {node: a, command: true, stdout: {regex: \"(\"}}\n", "t.yaml:8:52: regex: error parsing regexp: missing closing ): `(`"},
		{"process without node", pair + "  processes:\n    - {name: x, command: true}\n", `t.yaml:8:7: process x: missing key "node" (or "nodes")`},
		{"duplicate process", pair + "  processes:\n    - {name: x, node: a, command: true}\n    - {name: x, node: b, command: true}\n", "t.yaml:9:14: process x: duplicate name (first at line 8)"},
		{"alias bomb", "a: &a {x: 1}\nb: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}\nc: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}\nd: &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}\ne: &e {<<: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]}\nf: &f {<<: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]}\ng: &g {<<: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]}\ntopology: {nodes: [{<<: *g, name: n}]}\n", "the document is too large or too deeply nested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrs(t, tc.src, nil)
			for _, line := range got {
				if strings.Contains(line, tc.want) {
					return
				}
			}
			t.Errorf("errors:\n%s\nwant the line:\n%s", strings.Join(got, "\n"), tc.want)
		})
	}
}

// TestParseManyErrors: every problem of a file is reported at once, in
// file order.
func TestParseManyErrors(t *testing.T) {
	src := `name: many
topology:
  nodes: [a, b, a]
  links:
    - endpoints: [a 10.0.0.1/33, zz]
      mtux: 1
steps:
  - ping: {from: a, to: nowhere, count: x}
`
	got := parseErrs(t, src, nil)
	want := []string{
		"t.yaml:3:17: node a: duplicate node name",
		"t.yaml:5:21: endpoint a: address 10.0.0.1/33: prefix length \"33\" is not a number from 0 to 32",
		`t.yaml:5:34: link a-zz: end B: unknown node "zz" (nodes: a, b)`,
		`t.yaml:6:7: topology.links[0]: unknown key "mtux" (did you mean "mtu"?) (want name, endpoints, mtu, impair, impair-via)`,
		`t.yaml:8:25: unknown node "nowhere" (nodes: a, b)`,
		`t.yaml:8:41: steps[0].ping.count: want an integer, got "x"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestParams: ${NAME} takes the default, --set overrides it, an undeclared
// --set is an error, and $${X} is a literal.
func TestParams(t *testing.T) {
	src := `name: p
params: {N: 2, WHO: b}
topology:
  nodes: [a, b]
  links: [{endpoints: [a, b]}]
steps:
  - ping: {from: a, to: "${WHO}", count: "${N}"}
  - exec: {node: a, command: "echo $${HOME} $$"}
`
	s, err := scenario.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Steps[0].Spec.Value().(*scenario.PingStep); p.Count != 2 || p.To.V != "b" {
		t.Errorf("defaults: count %d to %q", p.Count, p.To.V)
	}
	if c := s.Steps[1].Spec.Value().(*scenario.ExecStep).Command.Shell; c != "echo ${HOME} $" {
		t.Errorf("literal: %q", c)
	}
	s, err = scenario.Parse("t.yaml", []byte(src), map[string]string{"N": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Steps[0].Spec.Value().(*scenario.PingStep); p.Count != 5 {
		t.Errorf("--set N=5: count %d", p.Count)
	}
	got := parseErrs(t, src, map[string]string{"M": "1", "N": "x"})
	want := []string{
		"t.yaml:1:1: --set M=1: the file declares no parameter M (declared: N, WHO)",
		`t.yaml:7:42: steps[0].ping.count: want an integer, got "x"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestParseForms: the short and long forms of nodes, commands, routes,
// lists; merge keys; process instances.
func TestParseForms(t *testing.T) {
	src := `name: forms
base: &base {kind: router}
topology:
  nodes: [h1, {<<: *base, name: r1}, {name: r2, kind: router}]
  links:
    - endpoints: [h1, r1]
    - endpoints: [r1:up auto, r2:down]
  routes:
    h1: default via r1
  processes:
    - name: d
      nodes: [r1, r2]
      command: [sleep, "60"]
      files: {conf: "id ${INDEX} on ${NODE} in ${FILES}"}
steps:
  - exec: {node: h1, command: [true], stdout: {contains: x}}
  - start: d@r2
`
	_, err := scenario.Parse("t.yaml", []byte(src), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown key "base"`) {
		t.Fatalf("want the unknown key base, got %v", err)
	}
	s, err := scenario.Parse("t.yaml", []byte(strings.Replace(src, "base: &base {kind: router}\n", "", 1)), nil)
	if err == nil {
		t.Fatalf("the alias has no anchor now: want an error")
	}
	src = strings.Replace(src, "base: &base {kind: router}\ntopology:\n  nodes: [h1, {<<: *base, name: r1}", "topology:\n  nodes: [h1, {<<: {kind: router}, name: r1}", 1)
	if s, err = scenario.Parse("t.yaml", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	if s.Topology.Nodes[1].Kind != nettest.Router {
		t.Errorf("merge key: r1 is %v", s.Topology.Nodes[1].Kind)
	}
	if r := s.Topology.Nodes[0].Routes; len(r) != 1 || r[0].ViaNode != "r1" {
		t.Errorf("routes: %v", r)
	}
	var names []string
	for _, in := range s.Processes {
		names = append(names, in.Name)
	}
	if strings.Join(names, " ") != "d@r1 d@r2" {
		t.Errorf("instances: %v", names)
	}
	if got := len(s.Instances("d@r2")); got != 1 {
		t.Errorf("d@r2 names %d instances", got)
	}
	if !s.Topology.Auto.IPv4 || !s.Topology.Auto.IPv6 || s.Topology.Auto.Routes {
		t.Errorf("default auto: %+v", s.Topology.Auto)
	}
}

// TestParseNeverPanics feeds the parser truncations of every example.
func TestParseNeverPanics(t *testing.T) {
	files, _ := fs.Glob(scenarios.Files, "*.yaml")
	for _, f := range files {
		data, err := scenarios.Files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(data); i += 7 {
			scenario.Parse(f, data[:i], nil)
		}
	}
}

// FuzzParse: no input makes the parser panic, and every error it returns
// is a list of "file:line:col: message" lines.
func FuzzParse(f *testing.F) {
	files, _ := fs.Glob(scenarios.Files, "*.yaml")
	for _, file := range files {
		data, err := scenarios.Files.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(pair))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenario.Parse("f.yaml", data, nil)
		if err == nil {
			if s == nil {
				t.Fatal("no scenario and no error")
			}
			return
		}
		var es scenario.Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v is not scenario.Errors", err, err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "f.yaml:") {
				t.Fatalf("error line %q does not start with the file", line)
			}
		}
	})
}

// TestSchemaUpToDate: docs/scenario.schema.json is what go generate writes.
func TestSchemaUpToDate(t *testing.T) {
	want, err := scenario.Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/scenario.schema.json")
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat("../../go.mod"); err != nil {
			t.Skip("skipping: not run from the source tree (as CI's rootless runs are)")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("docs/scenario.schema.json is out of date: run go generate ./internal/scenario")
	}
	for _, key := range []string{`"no-ping"`, `"link-down"`, `"eventually"`, `"endpoints"`, `"additionalProperties": false`} {
		if !strings.Contains(string(want), key) {
			t.Errorf("the schema has no %s", key)
		}
	}
}

// chain is a host, a router and a host, for the tests of impairments,
// faults, firewalls, NAT and captures.
const chain = `
name: c
topology:
  nodes: [h1, {name: r1, kind: router}, h2]
  links:
    - endpoints: [h1:eth0 10.1.0.2/24, r1:eth0 10.1.0.1/24]
    - name: wan
      endpoints: [r1:eth1 10.2.0.1/24, h2:eth0 10.2.0.2/24]
`

// TestParseFaultErrors: each bad value of the impairment, fault, firewall,
// NAT and capture keys gives its file:line:col line.
func TestParseFaultErrors(t *testing.T) {
	link := "      impair: "
	steps := "steps:\n  - "
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"percent with a space", link + "{both: {loss: 10 %}}\n",
			[]string{`t.yaml:9:29: topology.links[1].impair.both.loss: "10 %" is not a probability: write it as 10% or 0.1`}},
		{"probability out of range", link + "{both: {loss: 150%, duplicate: 2}}\n", []string{
			"t.yaml:9:29: topology.links[1].impair.both.loss: 150% is more than 100%",
			"t.yaml:9:46: topology.links[1].impair.both.duplicate: 2 is more than 1: write a percentage with % (2%), a fraction from 0 to 1 without"}},
		{"rate", link + "{a-b: {rate: fast mbit}, b-a: {rate: 10mbps}}\n", []string{
			`t.yaml:9:28: topology.links[1].impair.a-b.rate: "fast mbit" is not a rate: write it as 10mbit, 500kbit, 1gbit or a number of bits per second`,
			`t.yaml:9:52: topology.links[1].impair.b-a.rate: "10mbps": rates are in bits per second: write 10mbit, 500kbit or 1gbit (tc's bps means bytes per second: 8 times more bits)`}},
		{"engine's impairment check", link + "{both: {delay: 5ms, jitter: 10ms}}\n",
			[]string{"t.yaml:9:22: link wan: impair both: jitter 10ms is larger than the delay 5ms"}},
		{"both and a direction", link + "{both: {delay: 5ms}, a-b: {loss: 1%}}\n",
			[]string{"t.yaml:9:22: impair: give both, or a-b and b-a, not both and a direction"}},
		{"mechanism cannot", link + "{both: {delay: 5ms}}\n      impair-via: tbf+nftables\n",
			[]string{`t.yaml:10:19: link wan: impair-via: mechanism tbf+nftables does only random loss and rate; delay needs "userspace" (or netem)`}},
		{"unknown mechanism", "      impair-via: fast\n",
			[]string{`t.yaml:9:19: impair-via "fast": want netem, tbf+nftables, userspace or none`}},
		{"impair step", steps + "impair: {link: wan, both: {reorder: 5%}}\n  - impair: {link: r1-h2}\n  - impair: {link: h2:eth3, none: true}\n", []string{
			"t.yaml:10:31: impair both: reorder needs a delay (reordered packets are the ones not delayed)",
			"t.yaml:11:13: impair: give both, a-b, b-a or none: true",
			`t.yaml:11:20: unknown link "r1-h2" (links: h1-r1, wan; or name an end as node:iface)`,
			`t.yaml:12:20: node h2 has no interface "eth3" (it has lo, eth0)`}},
		{"impair step on a declared mechanism", "      impair-via: tbf+nftables\n" + steps + "impair: {link: r1:eth1, a-b: {loss: 1%}, b-a: {corrupt: 1%}}\n",
			[]string{`t.yaml:11:20: link r1:eth1: mechanism tbf+nftables does only random loss and rate; corruption needs "userspace" (or netem)`}},
		{"interfaces", steps + "iface-down: h1:eth9\n  - iface-up: zz:eth0\n  - iface-down: h1\n", []string{
			`t.yaml:10:17: node h1 has no interface "eth9" (it has lo, eth0)`,
			`t.yaml:11:15: unknown node "zz" (nodes: h1, r1, h2)`,
			`t.yaml:12:17: "h1": want node:iface (r1:eth0)`}},
		{"flap", steps + "flap: {link: wan, down: 1s, up: fast, times: -1}\n", []string{
			`t.yaml:10:37: steps[0].flap.up: "fast" is not a duration: write it as 5s, 200ms or 1m30s`,
			"t.yaml:10:50: times -1: want 1 or more"}},
		{"partitions", steps + "heal: true\n  - partition: [h1, zz]\n  - heal: west\n  - heal:\n  - partition: {name: w, nodes: [h1]}\n  - partition: {name: w, nodes: [h2]}\n  - isolate: q\n", []string{
			"t.yaml:10:11: heal: no partition is in place here (partition and isolate steps make them)",
			`t.yaml:11:21: unknown node "zz" (nodes: h1, r1, h2)`,
			"t.yaml:12:11: heal west: no partition of that name is in place here (named ones: none; heal: true heals every one)",
			"t.yaml:13:10: step 4: heal: want a value, got nothing",
			"t.yaml:15:23: partition w is in place already (heal it first)",
			`t.yaml:16:14: unknown node "q" (nodes: h1, r1, h2)`}},
		{"firewall", "  firewall:\n    h2:\n      - deny: {proto: sctp, dport: 99999}\n      - allow: {src: 10.0.0.0/33, dst: 10.0.0.1/24, in-iface: eth7}\n      - reject: {proto: tcp, icmp-type: echo-request, dport: http}\n      - default-deny: {direction: sideways}\n      - {}\n    zz:\n      - allow: {}\n", []string{
			`t.yaml:11:23: proto "sctp": want tcp, udp, icmp or icmpv6`,
			"t.yaml:11:36: node h2: deny: dport 99999: want 1 to 65535 (0: any)",
			`t.yaml:12:22: src: prefix 10.0.0.0/33: prefix length "33" is not a number from 0 to 32`,
			"t.yaml:12:40: node h2: allow: dst 10.0.0.1/24: has host bits set (the prefix is 10.0.0.0/24; an address is 10.0.0.1/32)",
			`t.yaml:12:63: node h2 has no interface "eth7" (it has lo, eth0)`,
			`t.yaml:13:41: node h2: reject: icmp-type "echo-request": needs proto icmp or icmpv6 (it is "tcp")`,
			`t.yaml:13:62: topology.firewall.h2[2].reject.dport: want an integer, got "http"`,
			`t.yaml:14:35: direction "sideways": want input, output or forward`,
			"t.yaml:15:9: firewall entry: nothing to do",
			`t.yaml:16:5: unknown node "zz" (nodes: h1, r1, h2)`}},
		{"firewall steps", steps + "deny: {node: zz, proto: tcp}\n  - allow: {node: h1, icmp-type: ping}\n  - reject: {node: h1, proto: icmp, dst: fd00::/64}\n", []string{
			`t.yaml:10:18: unknown node "zz" (nodes: h1, r1, h2)`,
			`t.yaml:11:34: node h1: allow: icmp-type "ping": needs proto icmp or icmpv6 (none is given)`,
			"t.yaml:12:31: node h1: reject: proto icmp is IPv4 but dst fd00::/64 is IPv6"}},
		{"nat", "  nat:\n    r1:\n      - masquerade: eth5\n      - snat: {src: 10.0.0.1/24, to: fd00::1}\n      - port-forward: {proto: sctp, port: 0, to: h2:80}\n", []string{
			`t.yaml:11:21: node r1 has no interface "eth5" (it has lo, eth0, eth1)`,
			"t.yaml:12:21: src 10.0.0.1/24: has host bits set (the prefix is 10.0.0.0/24; an address is 10.0.0.1)",
			"t.yaml:12:38: to fd00::1 is IPv6 but src 10.0.0.1/24 is IPv4",
			`t.yaml:13:31: proto "sctp": want tcp or udp`,
			"t.yaml:13:43: port 0: want 1 to 65535",
			`t.yaml:13:50: to "h2:80": want address:port (10.0.0.2:80, [fd00::2]:80) or an address (the same port)`}},
		{"nat steps", steps + "masquerade: r1\n  - snat: {node: r1, src: 10.0.0.0/24, to: 10.0.0.300}\n  - port-forward: {node: r1, port: 80, to: \"10.0.0.1:99999\"}\n  - nat-clear: r9\n", []string{
			`t.yaml:10:17: "r1": want node:iface (r1:eth0)`,
			`t.yaml:11:44: to "10.0.0.300": not an address`,
			`t.yaml:12:44: to "10.0.0.1:99999": want address:port (10.0.0.2:80, [fd00::2]:80) or an address (the same port)`,
			`t.yaml:13:16: unknown node "r9" (nodes: h1, r1, h2)`}},
		{"captures", steps + "saw-packet: {capture: c1}\n  - capture: h1:eth4\n  - capture: {iface: h1:eth0}\n  - capture: {iface: h1:eth0}\n  - no-packet: {capture: h1:eth0, proto: gre, dport: 70000}\n  - capture-stop: h1:eth0\n  - capture-stop: h1:eth0\n  - saw-packet: {capture: h1:eth0, proto: udp, icmp-type: echo-reply, direction: sideways}\n  - eventually: {within: 1s, step: {no-packet: {capture: c2, src: 10.1.0.1/8}}}\n", []string{
			`t.yaml:10:27: unknown capture "c1": a capture step before this one starts it (captures: none)`,
			`t.yaml:11:14: node h1 has no interface "eth4" (it has lo, eth0)`,
			"t.yaml:13:22: capture h1:eth0: a capture of that name started at line 12: give this one another name",
			`t.yaml:14:42: proto "gre": want tcp, udp, icmp, icmpv6 or arp`,
			"t.yaml:14:54: dport 70000: want 1 to 65535",
			"t.yaml:16:19: capture h1:eth0 is stopped already",
			`t.yaml:17:59: icmp-type "echo-reply": needs proto icmp, icmpv6 or none (it is udp)`,
			`t.yaml:17:82: direction "sideways": want in or out`,
			`t.yaml:18:58: unknown capture "c2": a capture step before this one starts it (captures: h1:eth0, h1:eth4)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrs(t, chain+tc.src, nil)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseFaultForms: what the impairment, fault, firewall, NAT and
// capture keys become, and the steps' names.
func TestParseFaultForms(t *testing.T) {
	src := chain + `      impair:
        a-b: {delay: 20ms, jitter: 5ms, loss: 1%, rate: 10mbit}
        b-a: {loss: 0.25, loss-correlation: 25%, duplicate: 0.5%, rate: 1.5gbit, seed: 7}
      impair-via: userspace
    - endpoints: [h1, h2]
      impair: {both: {rate: 500kbit, corrupt: "0.1", reorder: 10%, delay: 1ms}}
  firewall:
    h2:
      - default-deny: {direction: input}
      - allow: {established: true}
      - allow: {proto: icmp, icmp-type: echo-request, src: 10.1.0.0/24}
  nat:
    r1:
      - masquerade: eth1
      - port-forward: {port: 8080, to: 10.1.0.2}
steps:
  - impair: {link: wan, b-a: {rate: "1000"}}
  - impair: {link: h1:eth1, both: {loss: 100%}}
  - impair: {link: wan, none: true}
  - flap: {link: h1-h2, down: 100ms, up: 1s}
  - partition: [h1, r1]
  - isolate: h2
  - partition: {name: west, nodes: [h1]}
  - heal: west
  - heal: true
  - iface-down: r1:eth1
  - iface-up: r1:eth1
  - deny: {node: r1, direction: forward, proto: tcp, dport: 22, in-iface: eth0}
  - reject: {node: h2, proto: udp, sport: 53, dst: 10.2.0.2}
  - default-deny: {node: h1}
  - default-allow: {node: h1, direction: [input, output]}
  - firewall-clear: h1
  - masquerade: r1:eth0
  - snat: {node: r1, src: 10.1.0.0/24, to: 10.2.0.1}
  - port-forward: {node: r1, proto: udp, port: 53, to: "[fd00::2]:5353"}
  - nat-clear: r1
  - capture: r1:eth1
  - capture: {iface: r1:lo, name: loop}
  - saw-packet: {capture: r1:eth1, proto: icmp, icmp-type: echo-reply, direction: in}
  - no-packet: {capture: loop, proto: tcp, dport: 22, family: ipv4}
  - capture-stop: loop
  - eventually: {within: 2s, step: {saw-packet: {capture: loop, icmp-type: echo-request}}}
`
	s, err := scenario.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	wan, other := s.Topology.Links[1], s.Topology.Links[2]
	wantWan := nettest.Impairments{
		AB: nettest.Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.01, Rate: 10e6},
		BA: nettest.Impairment{Loss: 0.25, LossCorrelation: 0.25, Duplicate: 0.005, Rate: 1.5e9, Seed: 7},
	}
	if wan.Impair != wantWan || wan.ImpairVia != nettest.MechanismUserspace {
		t.Errorf("wan: %+v via %q, want %+v via userspace", wan.Impair, wan.ImpairVia, wantWan)
	}
	wantBoth := nettest.Impairment{Rate: 500e3, Corrupt: 0.1, Reorder: 0.1, Delay: time.Millisecond}
	if other.Impair != nettest.Both(wantBoth) || other.ImpairVia != "" {
		t.Errorf("h1-h2: %+v via %q, want both %+v", other.Impair, other.ImpairVia, wantBoth)
	}
	var names []string
	for _, st := range s.Steps {
		if !st.Action && !slices.Contains([]string{"saw-packet", "no-packet", "eventually"}, st.Spec.Key()) {
			t.Errorf("step %s is no action", st.Name)
		}
		names = append(names, st.Name)
	}
	want := []string{
		"impair wan: a-b none, b-a rate 1kbit",
		"impair h1:eth1: both loss 100%",
		"impair wan: none",
		"flap h1-h2: down 100ms, up 1s",
		"partition h1, r1",
		"isolate h2",
		"partition h1 (west)",
		"heal west",
		"heal",
		"interface down r1:eth1",
		"interface up r1:eth1",
		"deny r1 forward: iifname eth0 tcp dport 22",
		"reject h2 input: ip daddr 10.2.0.2 udp sport 53",
		"default deny h1",
		"default allow h1 input, output",
		"firewall clear h1",
		"masquerade r1:eth0",
		"snat r1 10.1.0.0/24 -> 10.2.0.1",
		"port forward r1 udp 53 -> [fd00::2]:5353",
		"nat clear r1",
		"capture r1:eth1",
		"capture r1:lo as loop",
		"saw packet r1:eth1: in icmp echo-reply",
		"no packet loop: tcp dport 22 (ipv4)",
		"capture stop loop",
		"saw packet loop: icmp echo-request (within 2s)",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("step names:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

// TestParseFractionRate: the values the CLI's impair flags take, read as
// the files read them.
func TestParseFractionRate(t *testing.T) {
	for s, want := range map[string]float64{"10%": 0.1, "0.25": 0.25, "100%": 1, ".5": 0.5} {
		if got, err := scenario.ParseFraction(s); err != nil || got != want {
			t.Errorf("ParseFraction(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"101%", "2", "ten"} {
		if _, err := scenario.ParseFraction(s); err == nil {
			t.Errorf("ParseFraction(%q): no error", s)
		}
	}
	for s, want := range map[string]uint64{"10mbit": 10e6, "500kbit": 500e3, "1gbit": 1e9, "1000": 1000} {
		if got, err := scenario.ParseRate(s); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := scenario.ParseRate("10mbps"); err == nil || !strings.Contains(err.Error(), "bits per second") {
		t.Errorf("ParseRate(10mbps): %v", err)
	}
}
