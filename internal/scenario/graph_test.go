package scenario_test

import (
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
)

// TestGraphLive: a running lab's graph names every interface with its
// automatic addresses, draws a link that is down dashed and says how one
// is impaired.
func TestGraphLive(t *testing.T) {
	s, err := scenario.Parse("chain.yaml", []byte("name: chain\ntopology:\n  nodes: [h1, {name: r1, kind: router}, h2]\n  links:\n    - endpoints: [h1, r1]\n    - endpoints: [r1, h2]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]scenario.LiveLink{"h1-r1": {Impairment: "delay 20ms"}, "r1-h2": {Down: true}}
	out, err := scenario.GraphLive("chain", s.Topology, live, "mermaid")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`n_h1 ---|"eth0 198.18.0.1/30 fdf6:fd81:8f7e::1/64 — eth0 198.18.0.2/30 fdf6:fd81:8f7e::2/64 [delay 20ms]"| n_r1`,
		`n_r1 -.-|"eth1 198.18.0.5/30 fdf6:fd81:8f7e:1::1/64 — eth0 198.18.0.6/30 fdf6:fd81:8f7e:1::2/64 [down]"| n_h2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	out, err = scenario.GraphLive("chain", s.Topology, live, "dot")
	if err != nil || !strings.Contains(out, `"r1" -- "h2" [taillabel="eth1 198.18.0.5/30 fdf6:fd81:8f7e:1::1/64", headlabel="eth0 198.18.0.6/30 fdf6:fd81:8f7e:1::2/64", label="down", style=dashed];`) {
		t.Errorf("dot (%v):\n%s", err, out)
	}
}
