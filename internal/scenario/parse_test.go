package scenario_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

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
		{"unknown key", pair + "stepz: []\n", `t.yaml:7:1: unknown key "stepz" (did you mean "steps"?) (want name, description, params, topology, steps)`},
		{"unknown nested key", strings.Replace(pair, "endpoints:", "endpoint:", 1), `t.yaml:6:7: topology.links[0]: unknown key "endpoint" (did you mean "endpoints"?) (want name, endpoints, mtu)`},
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
		{"bad route", pair + "  routes: {a: [10.0.0.0/8 vai 10.0.0.2]}\n", `t.yaml:7:16: node a: route "10.0.0.0/8 vai 10.0.0.2": unknown word "vai" (want via, dev, metric, nexthop or weight)`},
		{"engine route error", pair + "  routes:\n    a: [default via 10.9.9.9]\n", "t.yaml:8:9: node a: route default via 10.9.9.9: gateway 10.9.9.9 is on no connected subnet of a (it has eth0 10.0.0.0/24)"},
		{"overlap", pair + "    - endpoints: [a:eth1 10.0.0.129/25, b:eth1 10.0.0.130/25]\n", "t.yaml:7:26: link a-b-2: interface a:eth1: address 10.0.0.129/25: subnet 10.0.0.128/25 overlaps 10.0.0.0/24 on link a-b (a:eth0)"},
		{"mtu range", strings.Replace(pair, "b:eth0 10.0.0.2/24]", "b:eth0 10.0.0.2/24]\n      mtu: 10", 1), "t.yaml:7:12: link a-b: MTU 10 is outside 68..65535"},
		{"sysctl", strings.Replace(pair, "[a, b]", "[{name: a, sysctls: {kernel.x: 1}}, b]", 1), `t.yaml:4:30: node a: sysctl "kernel.x" is not under net.: only per-namespace net.* sysctls can be set in a node`},
		{"kind", strings.Replace(pair, "[a, b]", "[{name: a, kind: switch}, b]", 1), `t.yaml:4:27: node a: kind "switch": want host or router`},
		{"two actions", pair + "steps:\n  - ping: {from: a, to: b}\n    no-ping: {from: a, to: b}\n", "t.yaml:8:5: step 1: ping and no-ping: one action per step (make them separate steps)"},
		{"no action", pair + "steps:\n  - name: nothing\n", "t.yaml:8:5: step 1: nothing to do: give one of ping, no-ping, dial, route, exec, link-down, link-up, start, stop, eventually"},
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
		`t.yaml:6:7: topology.links[0]: unknown key "mtux" (did you mean "mtu"?) (want name, endpoints, mtu)`,
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
	if p := s.Steps[0].Spec.Ping; p.Count != 2 || p.To.V != "b" {
		t.Errorf("defaults: count %d to %q", p.Count, p.To.V)
	}
	if c := s.Steps[1].Spec.Exec.Command.Shell; c != "echo ${HOME} $" {
		t.Errorf("literal: %q", c)
	}
	s, err = scenario.Parse("t.yaml", []byte(src), map[string]string{"N": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Steps[0].Spec.Ping; p.Count != 5 {
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
