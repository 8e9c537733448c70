package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
)

// needsMissing is a scenario that requires a program no machine has.
func needsMissing(name string) string {
	return fmt.Sprintf(`name: %s
requires: [nettest-no-such-tool]
topology:
  nodes: [a, b]
  links:
    - endpoints: [a, b]
steps:
  - ping: {from: a, to: b}
`, name)
}

// TestRunRequiresSkips: a scenario requiring a program not in PATH is
// skipped (exit 0) with one line saying what to install, in the text
// report, JUnit and --json; NETTEST_REQUIRE_TOOLS=1 fails it (exit 1).
func TestRunRequiresSkips(t *testing.T) {
	testenv.RequirePrivilege(t)
	t.Setenv(scenario.RequireToolsEnv, "")
	name := uniq("req")
	file := scenarioFile(t, "req.yaml", needsMissing(name))
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, _, code := cli(t, "", "run", "--junit", junit, file)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	line := "skip " + name + ": needs nettest-no-such-tool (not in PATH: install nettest-no-such-tool)"
	for _, want := range []string{"--- SKIP: " + name + "/requires (", "    " + line + "\n", "PASS: 0 passed, 0 failed, 1 skipped\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q", want)
		}
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests   int `xml:"tests,attr"`
		Skipped int `xml:"skipped,attr"`
		Suites  []struct {
			Skipped int `xml:"skipped,attr"`
			Cases   []struct {
				Name    string `xml:"name,attr"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if doc.Tests != 1 || doc.Skipped != 1 || len(doc.Suites) != 1 || doc.Suites[0].Skipped != 1 || len(doc.Suites[0].Cases) != 1 ||
		doc.Suites[0].Cases[0].Name != "requires" || doc.Suites[0].Cases[0].Skipped == nil || doc.Suites[0].Cases[0].Skipped.Message != line {
		t.Errorf("junit:\n%s", data)
	}

	out, _, code = cli(t, "", "run", "--json", file)
	if code != 0 {
		t.Errorf("--json: exit %d, want 0", code)
	}
	actions := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct{ Action, Test string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if e.Action != "output" && e.Action != "run" && e.Action != "start" {
			actions[e.Test] = e.Action
		}
	}
	if want := map[string]string{"": "skip", name: "skip", name + "/requires": "skip"}; fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("--json actions %v, want %v", actions, want)
	}

	t.Setenv(scenario.RequireToolsEnv, "1")
	out, _, code = cli(t, "", "run", file)
	if code != 1 {
		t.Errorf("%s=1: exit %d, want 1", scenario.RequireToolsEnv, code)
	}
	if want := "--- FAIL: " + name + "/requires ("; !strings.Contains(out, want) {
		t.Errorf("%s=1: output has no %q", scenario.RequireToolsEnv, want)
	}
}

// TestRequiresUnknownFeature: an unknown kernel feature is an error at its
// item, for validate and run alike (exit 2).
func TestRequiresUnknownFeature(t *testing.T) {
	file := scenarioFile(t, "feat.yaml", "name: feat\nrequires: [ping, kernel:warp-drive]\ntopology:\n  nodes: [a]\n")
	want := file + `:2:18: requires: unknown kernel feature "warp-drive"`
	for _, cmd := range []string{"validate", "run"} {
		_, stderr, code := cli(t, "", cmd, file)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, want 2 and %q", cmd, code, want)
		}
	}
	// validate checks the syntax only: a missing program is no error there.
	if _, _, code := cli(t, "", "validate", scenarioFile(t, "req.yaml", needsMissing("req"))); code != 0 {
		t.Errorf("validate of a scenario requiring a missing program: exit %d, want 0", code)
	}
}

// TestRunShard: shards 1/2 and 2/2 together run every file of a folder
// once; bad values exit 2.
func TestRunShard(t *testing.T) {
	testenv.RequirePrivilege(t)
	t.Setenv(scenario.RequireToolsEnv, "")
	dir := t.TempDir()
	var names []string
	for i := range 5 {
		name := fmt.Sprintf("shard%d", i)
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(needsMissing(name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ran := regexp.MustCompile(`(?m)^=== (shard\d) `)
	var all []string
	for k, count := range []int{3, 2} {
		out, _, code := cli(t, "", "run", "--shard", fmt.Sprintf("%d/2", k+1), dir)
		if code != 0 {
			t.Errorf("shard %d/2: exit %d", k+1, code)
		}
		if want := fmt.Sprintf("shard %d/2: %d of 5 files\n", k+1, count); !strings.HasPrefix(out, want) {
			t.Errorf("shard %d/2: output does not begin %q", k+1, want)
		}
		for _, m := range ran.FindAllStringSubmatch(out, -1) {
			all = append(all, m[1])
		}
	}
	slices.Sort(all)
	if !slices.Equal(all, names) {
		t.Errorf("shards ran %q, want each of %q once", all, names)
	}
	for _, bad := range []string{"0/2", "3/2", "x/y", "1", "1/0", "-1/2"} {
		_, stderr, code := cli(t, "", "run", "--shard="+bad, dir)
		if code != 2 || !strings.Contains(stderr, "--shard "+bad+": want K/N") {
			t.Errorf("--shard %s: exit %d, want 2 and a message", bad, code)
		}
	}
}

// TestUpRequires: up of a lab that requires a program not in PATH builds
// nothing and exits 1 saying what to install.
func TestUpRequires(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	name := uniq("upreq")
	_, errOut, code := cli(t, "", "up", scenarioFile(t, "req.yaml", needsMissing(name)))
	if code != 1 || !strings.Contains(errOut, "up "+name+": needs nettest-no-such-tool (not in PATH: install nettest-no-such-tool)") {
		t.Errorf("up: exit %d, want 1 saying what to install", code)
	}
	noLeftovers(t, name)
}
