package scenarios_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/examples/scenarios"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// tools lists the programs an example runs, beyond nettest-run itself.
var tools = map[string][]string{
	"seed.yaml":      {"ip"},
	"lan.yaml":       {"ping", "hostname", "sh"},
	"routed.yaml":    {"ip", "sh"},
	"bird-ospf.yaml": {"bird", "ip", "sh"},
	"frr-ospf.yaml":  {"vtysh", "ip", "sh"},
	"faults.yaml":    {},
	"policy.yaml":    {},
}

// features lists the kernel features an example needs beyond veth.
var features = map[string][]nettest.Feature{
	"faults.yaml": {nettest.FeatureTUN, nettest.FeatureNFTables}, // a userspace link; firewall and NAT
	"policy.yaml": {nettest.FeatureNFTables},                     // a firewall
}

// TestExamples runs every example scenario, as `nettest-run run` would,
// and wants every step to pass.
func TestExamples(t *testing.T) {
	files, err := fs.Glob(scenarios.Files, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".yaml"), func(t *testing.T) {
			testenv.RequirePrivilege(t)
			want, ok := tools[f]
			if !ok {
				t.Fatalf("%s: say which tools it needs in tools", f)
			}
			testenv.RequireTools(t, want...)
			if strings.HasPrefix(f, "frr-") {
				testenv.RequireFRR(t, "ospfd", "ospf6d")
			}
			if need := features[f]; len(need) > 0 {
				fs, err := nettest.DetectFeatures()
				if err != nil {
					t.Fatal(err)
				}
				if err := fs.Require(need...); err != nil {
					// Rootless, /dev/net/tun is often root's only.
					t.Skipf("skipping: %v", err)
				}
			}
			data, err := scenarios.Files.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := scenario.Parse(f, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := scenario.Execute(ctx, s, scenario.Options{})
			for _, res := range r.Results {
				if res.Status != scenario.Pass {
					t.Errorf("%s: %s\n%s\n%s", res.Name, res.Status, res.Failure, strings.Join(res.Output, "\n"))
				}
			}
			if len(r.Results) != len(s.Steps) {
				t.Errorf("%d results for %d steps", len(r.Results), len(s.Steps))
			}
			if t.Failed() {
				for _, tail := range r.ProcessTails() {
					t.Log(tail)
				}
			}
		})
	}
}

// TestExamplesRequire: each example's requires: names the programs it runs
// (but sh and hostname, which every machine has) and the kernel features
// it needs, so that nettest-run skips it where they are missing.
func TestExamplesRequire(t *testing.T) {
	for f, progs := range tools {
		data, err := scenarios.Files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scenario.Parse(f, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, r := range s.Requirements() {
			got = append(got, r.Program+string(r.Feature))
		}
		for _, p := range progs {
			if p != "sh" && p != "hostname" {
				want = append(want, p)
			}
		}
		for _, feat := range features[f] {
			want = append(want, string(feat))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: requires %q, want %q", f, got, want)
		}
	}
}
