package scenario

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// stepSamples uses each step kind once, as the last of its steps, on
// stepTopology. A new kind needs a sample here.
var stepSamples = map[string]string{
	"ping":           "- ping: {from: h1, to: h2}",
	"no-ping":        "- no-ping: {from: h1, to: h2}",
	"dial":           "- dial: {from: h1, to: h2, port: 80}",
	"route":          "- route: {node: h1, to: h2, via: r1}",
	"converged":      "- converged: {settle: 100ms, within: 10s}",
	"exec":           "- exec: {node: h1, command: \"true\"}",
	"saw-packet":     "- capture: h1:eth0\n- saw-packet: {capture: h1:eth0}",
	"no-packet":      "- capture: h1:eth0\n- no-packet: {capture: h1:eth0, proto: tcp}",
	"link-down":      "- link-down: wan",
	"link-up":        "- link-up: r1:eth1",
	"iface-down":     "- iface-down: r1:eth1",
	"iface-up":       "- iface-up: r1:eth1",
	"impair":         "- impair: {link: wan, both: {delay: 10ms}}",
	"flap":           "- flap: {link: wan, down: 10ms, up: 10ms}",
	"partition":      "- partition: [h1]",
	"isolate":        "- isolate: h1",
	"heal":           "- isolate: h1\n- heal: h1",
	"start":          "- start: web",
	"stop":           "- stop: web",
	"allow":          "- allow: {node: r1, proto: tcp, dport: 22}",
	"deny":           "- deny: {node: r1, proto: tcp, dport: 22}",
	"reject":         "- reject: {node: r1, proto: tcp, dport: 22}",
	"default-deny":   "- default-deny: {node: r1}",
	"default-allow":  "- default-allow: {node: r1, direction: forward}",
	"firewall-clear": "- firewall-clear: r1",
	"masquerade":     "- masquerade: r1:eth1",
	"snat":           "- snat: {node: r1, src: 10.1.0.0/24, to: 10.2.0.1}",
	"port-forward":   "- port-forward: {node: r1, port: 8080, to: \"10.2.0.2:80\"}",
	"nat-clear":      "- nat-clear: r1",
	"capture":        "- capture: h1:eth0",
	"capture-stop":   "- capture: h1:eth0\n- capture-stop: h1:eth0",
	"eventually":     "- eventually: {within: 1s, step: {ping: {from: h1, to: h2}}}",
}

const stepTopology = `name: k
topology:
  nodes: [h1, {name: r1, kind: router}, h2]
  links:
    - endpoints: [h1:eth0 10.1.0.2/24, r1:eth0 10.1.0.1/24]
    - name: wan
      endpoints: [r1:eth1 10.2.0.1/24, h2:eth0 10.2.0.2/24]
  processes:
    - {name: web, node: h2, echo: {port: 80}, start: false}
steps:
`

// TestStepKinds: every registered step kind decodes (its sample, into its
// own value), checks (it names the step) and runs (action has a run
// method, and its role says whether -run may skip it), and the schema
// describes it with its doc; the checks are what eventually takes.
func TestStepKinds(t *testing.T) {
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Description string `json:"description"`
			} `json:"properties"`
			OneOf []struct {
				Required []string `json:"required"`
			} `json:"oneOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	alternatives := func(def string) []string {
		var keys []string
		for _, o := range schema.Defs[def].OneOf {
			keys = append(keys, o.Required...)
		}
		return keys
	}
	seen := map[string]bool{}
	for _, k := range stepKinds {
		t.Run(k.key, func(t *testing.T) {
			if seen[k.key] {
				t.Fatalf("%s is registered twice", k.key)
			}
			seen[k.key] = true
			if k.doc == "" {
				t.Errorf("%s has no doc", k.key)
			}
			a := k.new()
			v := reflect.ValueOf(a.value())
			if v.Kind() != reflect.Pointer || v.IsNil() || a.value() != a.value() {
				t.Fatalf("%s: value() is %T, want the same non-nil pointer each time (what the decoder fills in)", k.key, a.value())
			}
			if p, ok := schema.Defs["Step"].Properties[k.key]; !ok || p.Description != k.doc {
				t.Errorf("%s: the schema's Step has %+v (present %v), want its doc", k.key, p, ok)
			}
			if !slices.Contains(alternatives("Step"), k.key) {
				t.Errorf("%s: not one of the schema's Step alternatives", k.key)
			}
			_, inCheck := schema.Defs["Check"].Properties[k.key]
			if inCheck != (k.role == checks) || slices.Contains(alternatives("Check"), k.key) != (k.role == checks) {
				t.Errorf("%s: in the schema's Check: %v, want %v", k.key, inCheck, k.role == checks)
			}

			sample, ok := stepSamples[k.key]
			if !ok {
				t.Fatalf("%s: no sample in stepSamples", k.key)
			}
			s, err := parse("k.yaml", []byte(stepTopology+sample+"\n"), nil, DefaultMaxSize)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			st := s.Steps[len(s.Steps)-1]
			if st.Spec.Key() != k.key || reflect.TypeOf(st.Spec.Value()) != v.Type() {
				t.Errorf("%s: decoded as %q, %T", sample, st.Spec.Key(), st.Spec.Value())
			}
			if st.Name == "" {
				t.Errorf("%s: default name %q", sample, st.Name)
			}
			if st.Action != (k.role == changes) {
				t.Errorf("%s: Action %v, want %v", sample, st.Action, k.role == changes)
			}
		})
	}
	for key := range stepSamples {
		if !seen[key] {
			t.Errorf("stepSamples has %s, which is no step kind", key)
		}
	}
	if len(schema.Defs["Step"].Properties) != len(stepKinds)+1 { // and name
		t.Errorf("the schema's Step has %d keys, want %d kinds and name", len(schema.Defs["Step"].Properties), len(stepKinds))
	}
}
