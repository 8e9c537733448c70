package scenario_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// TestRequiresParse: requires: lists programs and kernel:FEATURE items;
// an unknown feature or a name that cannot be a program is an error at its item.
func TestRequiresParse(t *testing.T) {
	s, err := scenario.Parse("t.yaml", []byte(pair+"requires: [ping, bird, kernel:netem, kernel:tun]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Requirements() {
		got = append(got, r.Program+string(r.Feature))
	}
	if want := []string{"ping", "bird", "netem", "tun"}; !slices.Equal(got, want) {
		t.Errorf("requirements %q, want %q", got, want)
	}
	for _, c := range []struct{ src, want string }{
		{"requires: [ping, kernel:warp]\n", `t.yaml:7:18: requires: unknown kernel feature "warp" (known: ipv6, veth, bridge`},
		{"requires:\n  - ping\n  - two words\n", `t.yaml:9:5: requires: "two words" is not a program name`},
		{"requires: ping\n", `t.yaml:7:11: requires: want a list, got "ping"`},
	} {
		errs := parseErrs(t, pair+c.src, nil)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], c.want) {
			t.Errorf("%q: errors %q, want one beginning %q", c.src, errs, c.want)
		}
	}
}

// TestRequiresMissing: Missing names what is missing and the package to
// install; kernel features are probed only when asked for.
func TestRequiresMissing(t *testing.T) {
	s, err := scenario.Parse("t.yaml", []byte(pair+"requires: [sh, no-such-tool-xyz, ping]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/nonexistent:/bin:/usr/bin")
	probed := false
	probe := func() (*nettest.Features, error) { probed = true; return nil, errors.New("no probe") }
	why, programs := s.Missing(probe)
	if probed || !programs || !strings.HasPrefix(why, "needs no-such-tool-xyz") || !strings.Contains(why, "(not in PATH: install no-such-tool-xyz") {
		t.Errorf("Missing: %q, %v (probed %v)", why, programs, probed)
	}
	s, err = scenario.Parse("t.yaml", []byte(pair+"requires: [sh, kernel:netem]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	why, programs = s.Missing(probe)
	if !probed || programs || !strings.Contains(why, "netem") {
		t.Errorf("Missing with a feature: %q, %v (probed %v)", why, programs, probed)
	}
	r := scenario.NewUnmetRun(s, "needs x", false)
	if !r.Unmet() || r.Failed() || r.Results[0].Status != scenario.Skip || r.Results[0].Failure != "skip p: needs x" {
		t.Errorf("unmet run: %+v", r.Results[0])
	}
	if r := scenario.NewUnmetRun(s, "needs x", true); !r.Failed() {
		t.Errorf("unmet run under %s=1 did not fail", scenario.RequireToolsEnv)
	}
}
