package scenario

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// kernelPrefix begins a requires: item that names a kernel feature.
const kernelPrefix = "kernel:"

// knownFeatures are the kernel features a requires: item may name, as
// nettest.DetectFeatures probes them.
var knownFeatures = []nettest.Feature{
	nettest.FeatureIPv6, nettest.FeatureVeth, nettest.FeatureBridge, nettest.FeatureVXLAN,
	nettest.FeatureDummy, nettest.FeatureVRF, nettest.FeatureMacvlan, nettest.FeatureIPVlan,
	nettest.FeatureTUN, nettest.FeatureTBF, nettest.FeatureNetem, nettest.FeatureHTB,
	nettest.FeatureFQCodel, nettest.FeatureClsact, nettest.FeatureNFTables,
}

// packageHints name the Debian package of well-known programs.
var packageHints = map[string]string{
	"ping": "iputils-ping", "bird": "bird2", "birdc": "bird2", "tshark": "tshark",
	"ip": "iproute2", "tc": "iproute2", "ss": "iproute2", "nft": "nftables",
	"vtysh": "frr", "zebra": "frr", "ospfd": "frr", "bgpd": "frr",
}

// Requirement is one item of a scenario's requires: a program looked up
// in PATH, or a kernel feature.
type Requirement struct {
	Program string          // set for a program
	Feature nettest.Feature // set for a kernel feature
	Pos     Pos
}

// checkRequires reads the requires: key; an unknown feature or a program
// name that cannot be one is an error at its item.
func (s *Scenario) checkRequires(l *errList) {
	for _, t := range s.Spec.Requires {
		v := strings.TrimSpace(t.V)
		if name, ok := strings.CutPrefix(v, kernelPrefix); ok {
			f := nettest.Feature(strings.TrimSpace(name))
			if !slices.Contains(knownFeatures, f) {
				names := make([]string, len(knownFeatures))
				for i, k := range knownFeatures {
					names[i] = string(k)
				}
				l.add(t.Pos, "requires: unknown kernel feature %q (known: %s)", string(f), strings.Join(names, ", "))
				continue
			}
			s.requires = append(s.requires, Requirement{Feature: f, Pos: t.Pos})
			continue
		}
		if v == "" || strings.ContainsAny(v, " \t\n:") {
			l.add(t.Pos, "requires: %q is not a program name (a program in PATH, such as ping, or kernel:FEATURE, such as kernel:netem)", t.V)
			continue
		}
		s.requires = append(s.requires, Requirement{Program: v, Pos: t.Pos})
	}
}

// Requirements returns what the scenario's requires: names, in file order.
func (s *Scenario) Requirements() []Requirement { return s.requires }

// Missing says what the scenario requires that this machine lacks, in one
// line ("needs ping (not in PATH: install iputils-ping)"), or "" when it has
// everything; programs reports whether a program is missing (not only
// kernel features). Programs are looked up in PATH; features are probed
// with features (nettest.DetectFeatures), called only when a feature is
// required.
func (s *Scenario) Missing(features func() (*nettest.Features, error)) (why string, programs bool) {
	var progs, hints, feats []string
	var fs *nettest.Features
	var fsErr error
	probed := false
	for _, r := range s.requires {
		if r.Program != "" {
			if _, err := exec.LookPath(r.Program); err != nil {
				progs = append(progs, r.Program)
				if h := packageHints[r.Program]; h != "" {
					if !slices.Contains(hints, h) {
						hints = append(hints, h)
					}
				} else if !slices.Contains(hints, r.Program) {
					hints = append(hints, r.Program)
				}
			}
			continue
		}
		if !probed {
			fs, fsErr = features()
			probed = true
		}
		switch {
		case fsErr != nil:
			feats = append(feats, fmt.Sprintf("%s (cannot probe the kernel: %v)", r.Feature, fsErr))
		case !fs.Supported(r.Feature):
			feats = append(feats, fmt.Sprintf("kernel:%s (%s)", r.Feature, fs.Status(r.Feature).Reason))
		}
	}
	var parts []string
	if len(progs) > 0 {
		parts = append(parts, fmt.Sprintf("%s (not in PATH: install %s)", strings.Join(progs, ", "), strings.Join(hints, ", ")))
	}
	parts = append(parts, feats...)
	if len(parts) == 0 {
		return "", false
	}
	return "needs " + strings.Join(parts, ", "), len(progs) > 0
}

// NewUnmetRun returns the run of a scenario that did not start because it
// lacks what it requires (missing, as Missing says it): one result named
// NAME/requires, skipped, or failed when fail is set (NETTEST_REQUIRE_TOOLS=1
// and a program is missing: a kernel lacking a feature is a skip even then,
// as in the Go tests).
func NewUnmetRun(s *Scenario, missing string, fail bool) *Run {
	res := &StepResult{Name: s.Name + "/requires", Status: Skip, Failure: "skip " + s.Name + ": " + missing}
	if fail {
		res.Status = Fail
		res.Failure = fmt.Sprintf("%s=1 but %s %s", RequireToolsEnv, s.Name, missing)
	}
	return &Run{S: s, start: time.Now(), Results: []*StepResult{res}, unmet: true}
}

// RequireToolsEnv names the variable that turns a scenario's missing
// requirement from a skip into a failure, as it does for the Go tests.
const RequireToolsEnv = "NETTEST_REQUIRE_TOOLS"

// Unmet reports whether the run did not start because the scenario lacks
// what it requires (NewUnmetRun).
func (r *Run) Unmet() bool { return r.unmet }
