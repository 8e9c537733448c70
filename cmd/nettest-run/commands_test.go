package main

import (
	"debug/buildinfo"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

// TestHelpPerCommand: every command answers --help (and go test's -help,
// and help CMD) on stdout with exit 0, doing nothing else.
func TestHelpPerCommand(t *testing.T) {
	cmds := []string{"demo", "run", "validate", "graph", "up", "status", "exec", "shell", "down", "clean", "link", "impair", "partition", "heal", "pingall", "capture", "completion"}
	for _, c := range cmds {
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}} {
			out, errOut, code := cli(t, "", args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "Usage:\n  nettest-run "+c) {
				t.Errorf("nettest-run %s: exit %d, stderr %q; want exit 0 and the usage of %s", strings.Join(args, " "), code, errOut, c)
			}
		}
	}
	if out, _, code := cli(t, "", "exec", "somelab", "--help"); code != 0 || !strings.Contains(out, "Usage:\n  nettest-run exec") {
		t.Errorf("exec LAB --help: exit %d, want 0 and exec's usage", code)
	}
	for _, args := range [][]string{{"run", "-help"}, {"help", "run"}, {"run", examples, "--help"}} {
		out, _, code := cli(t, "", args...)
		if code != 0 || !strings.Contains(out, "--keep-on-failure") {
			t.Errorf("nettest-run %s: exit %d, want 0 and run's flags", strings.Join(args, " "), code)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, code := cli(t, "", args...)
		if code != 0 || !strings.Contains(out, "Scenario files:") || !strings.Contains(out, "Exit codes:") {
			t.Errorf("nettest-run %s: exit %d, want 0 and the list of commands", strings.Join(args, " "), code)
		}
	}
}

// TestVersion: --version says what the binary's build information says.
func TestVersion(t *testing.T) {
	path := bin
	if path == "" {
		path = os.Args[0]
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := cli(t, "", "--version")
	if want := versionOf(bi, true) + "\n"; code != 0 || out != want {
		t.Errorf("--version: exit %d, %q; want 0 and %q", code, out, want)
	}
	if !strings.HasPrefix(out, "nettest-run ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: %q names neither nettest-run nor %s", out, runtime.Version())
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(out, "revision "+s.Value) {
			t.Errorf("--version: %q does not name the revision %s", out, s.Value)
		}
	}
}

func TestVersionOf(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/nettestlab/nettest", Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "1f0c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c"},
		{Key: "vcs.time", Value: "2026-12-01T11:47:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if got, want := versionOf(bi, true), "nettest-run (devel) (github.com/nettestlab/nettest), revision 1f0c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c 2026-12-01T11:47:00Z, modified, go1.26.8 "+platform; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	bi = &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/nettestlab/nettest", Version: "v0.3.0"}}
	if got, want := versionOf(bi, true), "nettest-run v0.3.0 (github.com/nettestlab/nettest), go1.26.8 "+platform; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := versionOf(nil, false); !strings.HasPrefix(got, "nettest-run (no build information), go") {
		t.Errorf("without build information: %s", got)
	}
}

// TestCompletion: completion prints a script for each shell, and the
// completions it asks for name the flags.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_nettest-run", "zsh": "#compdef nettest-run", "fish": "complete -c nettest-run"} {
		out, _, code := cli(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, no %q in the script", shell, code, want)
		}
	}
	out, _, code := cli(t, "", "__complete", "run", "--fail")
	if code != 0 || !strings.Contains(out, "--failfast\t") {
		t.Errorf("completing run --fail: exit %d, %q", code, out)
	}
}

// TestNormaliseArgs: go test's single-dash flags become the double-dash
// ones cobra parses; values, what follows "--" and exec's command stay.
func TestNormaliseArgs(t *testing.T) {
	root := newRoot(nil, nil)
	for _, c := range []struct{ in, want string }{
		{"run f.yaml -run X -failfast", "run f.yaml --run X --failfast"},
		{"run -run -x f.yaml", "run --run -x f.yaml"},
		{"run -json=false -set=A=B -max-size 1MiB f.yaml", "run --json=false --set=A=B --max-size 1MiB f.yaml"},
		{"run -h f.yaml", "run -h f.yaml"},
		{"run f.yaml -- -run", "run f.yaml -- -run"},
		{"exec lab h1 ip -br -4 addr -help", "exec lab h1 ip -br -4 addr -help"},
		{"exec -help", "exec --help"},
		{"-version", "--version"},
		{"frobnicate -run", "frobnicate -run"},
		{"completion bash -help", "completion bash -help"},
	} {
		if got := strings.Join(normaliseArgs(root, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
}

// TestRunDir: a folder stands for its *.yaml files, in name order; flags
// may follow it.
func TestRunDir(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for name, src := range map[string]string{
		"b.yaml":       "topology:\n  nodes: [x]\nsteps:\n  - exec: {node: x, command: \"true\"}\n",
		"a.yaml":       "topology:\n  nodes: [x]\nsteps:\n  - exec: {node: x, command: \"true\"}\n  - exec: {node: x, command: \"false\"}\n",
		"notes.txt":    "not a scenario",
		"sub/c.yaml":   "not: [read",
		"skip.yaml.in": "not: [read",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code := cli(t, "", "validate", dir)
	if want := "ok   " + filepath.Join(dir, "a.yaml") + ": 1 node, 2 steps\nok   " + filepath.Join(dir, "b.yaml") + ": 1 node, 1 step\n"; code != 0 || out != want {
		t.Errorf("validate DIR: exit %d, %q; want 0 and %q", code, out, want)
	}
	empty := t.TempDir()
	if _, errOut, code := cli(t, "", "run", empty); code != 2 || !strings.Contains(errOut, "run "+empty+": the folder has no scenario file (*.yaml)") {
		t.Errorf("run of a folder without scenarios: exit %d, want 2 saying so", code)
	}

	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "sh")
	out, _, code = cli(t, "", "run", dir+"/", "-run", "/01")
	if code != 0 || !regexp.MustCompile(`(?s)^=== a \(.*\n=== b \(.*\nPASS: 2 passed, 0 failed, 0 skipped\n$`).MatchString(out) {
		t.Errorf("run DIR -run /01: exit %d, want 0, a then b, 2 passed", code)
	}
	if _, _, code = cli(t, "", "run", dir); code != 1 {
		t.Errorf("run DIR with a failing step: exit %d, want 1", code)
	}
}

// statusDoc is what the test reads back of status --json.
type statusDoc struct {
	Labs []struct {
		Name  string
		State string
		Nodes []struct {
			Name, Kind, Namespace string
			Interfaces            []struct {
				Name, State string
				Addresses   []string
			}
			Processes []struct {
				PID     int
				Command string
			}
		}
		Links []struct {
			Name string
			Up   bool
			A, B struct {
				Node, Interface string
				Addresses       []string
			}
		}
	}
}

// TestLabCommands: exec without "--", status of one lab and as JSON,
// completion of lab and node names, and down twice, both exiting 0.
func TestLabCommands(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "sh")
	name := uniq("cmds")
	file := scenarioFile(t, "pair.yaml", execLab)
	t.Cleanup(func() { cli(t, "", "down", name) })
	if _, _, code := cli(t, "", "up", "--set", "NAME="+name, file); code != 0 {
		t.Fatalf("up: exit %d", code)
	}

	// exec: everything after NODE is the command's, its flags too.
	for _, args := range [][]string{
		{"exec", name, "h1", "sh", "-c", "echo $NETTEST_NODE; exit 3"},
		{"exec", name, "h1", "--", "sh", "-c", "echo $NETTEST_NODE; exit 3"},
	} {
		if out, _, code := cli(t, "", args...); code != 3 || out != "h1\n" {
			t.Errorf("%s: exit %d, %q; want 3 and h1", strings.Join(args, " "), code, out)
		}
	}

	out, _, code := cli(t, "", "status", "--json", name)
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("status --json: exit %d: %v", code, err)
	}
	if len(doc.Labs) != 1 || doc.Labs[0].Name != name || doc.Labs[0].State != "up" {
		t.Fatalf("status --json: %+v, want the lab %s up", doc.Labs, name)
	}
	l := doc.Labs[0]
	var nodes []string
	for _, n := range l.Nodes {
		nodes = append(nodes, n.Name)
		if n.Kind != "host" || n.Namespace != "nettest-"+name+"."+n.Name {
			t.Errorf("node %+v", n)
		}
		if i := slices.IndexFunc(n.Interfaces, func(in struct {
			Name, State string
			Addresses   []string
		}) bool {
			return in.Name == "eth0"
		}); i < 0 || n.Interfaces[i].State != "UP" || len(n.Interfaces[i].Addresses) != 2 {
			t.Errorf("node %s: no eth0 up with an IPv4 and an IPv6 address: %+v", n.Name, n.Interfaces)
		}
	}
	if strings.Join(nodes, " ") != "h1 h2" {
		t.Errorf("status --json: nodes %v, want h1 h2", nodes)
	}
	if len(l.Links) != 1 || !l.Links[0].Up || l.Links[0].A.Node != "h1" || l.Links[0].B.Node != "h2" || l.Links[0].A.Interface != "eth0" || len(l.Links[0].A.Addresses) != 2 || len(l.Links[0].B.Addresses) != 2 {
		t.Errorf("status --json: links %+v, want h1:eth0 - h2:eth0 up with automatic addresses", l.Links)
	}
	if out, _, code := cli(t, "", "status", name); code != 0 || !strings.HasPrefix(out, name+" (up ") {
		t.Errorf("status %s: exit %d", name, code)
	}
	if _, errOut, code := cli(t, "", "status", "nosuch"); code != 2 || !strings.Contains(errOut, `no topology "nosuch" is up`) {
		t.Errorf("status nosuch: exit %d, want 2", code)
	}

	if out, _, _ := cli(t, "", "__complete", "down", ""); !slices.Contains(strings.Split(out, "\n"), name) {
		t.Errorf("completing down: %q has no %s", out, name)
	}
	if out, _, _ := cli(t, "", "__complete", "exec", name, ""); !strings.HasPrefix(out, "h1\nh2\n") {
		t.Errorf("completing exec %s: %q, want its nodes", name, out)
	}

	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is down\n" {
		t.Errorf("down: exit %d", code)
	}
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is already down (no lab of that name is up)\n" {
		t.Errorf("second down: exit %d, want 0 saying it is already down", code)
	}
	if out, _, code := cli(t, "", "status", "--json"); code != 0 || strings.Contains(out, name) {
		t.Errorf("status --json after down: exit %d, still names %s", code, name)
	}
	noLeftovers(t, name)
}
