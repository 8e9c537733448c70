package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/examples/scenarios"
	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// The tests build nettest-run and run it as a user would. A test binary
// started with runAsCLI set runs the CLI instead (for RunAsNobody).
const runAsCLI = "NETTEST_RUN_TEST_AS_CLI"

var (
	bin      string // the nettest-run binary built, or "" to run this one as the CLI
	examples string // a copy of examples/scenarios
)

// example returns the path of an example scenario's copy.
func example(name string) string { return filepath.Join(examples, name) }

func TestMain(m *testing.M) {
	testenv.Private()
	if os.Getenv(runAsCLI) == "1" {
		os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "nettest-run-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	bin = filepath.Join(dir, "nettest-run")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		// No toolchain here (CI runs the test binaries rootless, as nobody,
		// elsewhere): this test binary is the CLI then.
		fmt.Fprintf(os.Stderr, "building nettest-run: %v\n%s\nrunning this test binary as nettest-run instead\n", err, out)
		bin = ""
	}
	examples = filepath.Join(dir, "examples")
	if err := os.CopyFS(examples, scenarios.Files); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs nettest-run with stdin and returns its stdout, stderr and exit code.
func cli(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if bin == "" {
		cmd = exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), runAsCLI+"=1")
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("nettest-run %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), code
}

// scenarioFile writes a scenario to a file readable by anyone.
func scenarioFile(t *testing.T, name, src string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nettest-run-scenario-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// uniq returns a topology name of this test run, so that parallel runs
// and earlier leftovers never collide.
func uniq(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
}

// noLeftovers checks that a topology left nothing: namespaces, state.
func noLeftovers(t *testing.T, name string) {
	t.Helper()
	persisted, err := nettest.ListPersisted()
	if err != nil {
		t.Fatal(err)
	}
	if persisted[name] != nil {
		t.Errorf("namespaces of %s left: %v", name, persisted[name])
	}
	if _, err := os.Stat(lab.Path(name)); err == nil {
		t.Errorf("state %s left", lab.Path(name))
	}
	if _, err := os.Stat(lab.FilesDir(name)); err == nil {
		t.Errorf("files %s left", lab.FilesDir(name))
	}
	if m, _ := filepath.Glob(filepath.Join(nettest.NetnsDir, nettest.PersistedName(name, "*"))); len(m) > 0 {
		t.Errorf("names under %s left: %v", nettest.NetnsDir, m)
	}
}

const failing = `name: ${NAME}
params: {NAME: failing}
topology:
  nodes: [red, blue]
  links:
    - endpoints: [red:veth-red 10.1.1.1/24, blue:veth-blue 10.1.1.2/24]
steps:
  - ping: {from: red, to: blue}
  - no-ping: {from: red, to: blue}
  - exec: {node: blue, command: "echo hello from $(hostname)", stdout: {contains: "hello from blue"}}
`

func TestValidate(t *testing.T) {
	out, _, code := cli(t, "", "validate", example("seed.yaml"), example("routed.yaml"))
	if code != 0 || !strings.Contains(out, "ok   "+example("seed.yaml")+": 2 nodes, 1 link, 5 steps") {
		t.Errorf("validate: exit %d", code)
	}
	bad := scenarioFile(t, "bad.yaml", "name: bad\ntopology:\n  nodes: [a, a]\n  linkz: []\nsteps:\n  - ping: {from: a, to: b}\n")
	_, errOut, code := cli(t, "", "validate", bad)
	if code != 2 {
		t.Errorf("validate of a bad file: exit %d, want 2", code)
	}
	want := []string{
		bad + `:3:14: node a: duplicate node name`,
		bad + `:4:3: topology: unknown key "linkz" (did you mean "links"?) (want nodes, links, lans, routes, rules, auto, firewall, nat, daemons, processes)`,
		bad + `:6:25: unknown node "b" (nodes: a)`,
	}
	if got := strings.TrimSpace(errOut); got != strings.Join(want, "\n") {
		t.Errorf("validate printed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestValidateAsNobody: validate needs no privilege.
func TestValidateAsNobody(t *testing.T) {
	file := scenarioFile(t, "seed.yaml", failing)
	out, err := testenv.RunAsNobody(t, []string{"validate", file}, []string{runAsCLI + "=1"})
	if err != nil || !strings.Contains(out, "ok   "+file+": 2 nodes, 1 link, 3 steps") {
		t.Errorf("validate as nobody: %v\n%s", err, out)
	}
	out, err = testenv.RunAsNobody(t, []string{"run", file}, []string{runAsCLI + "=1"})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "privilege") {
		t.Errorf("run as nobody: %v, want exit 2 saying privilege\n%s", err, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"run"}, {"run", "-nosuchflag", "x.yaml"}, {"exec", "a"}, {"graph", "--format", "png", example("seed.yaml")}} {
		if _, errOut, code := cli(t, "", args...); code != 2 || errOut == "" {
			t.Errorf("nettest-run %v: exit %d, want 2 with a message", args, code)
		}
	}
	out, _, code := cli(t, "", "help")
	if code != 0 || !strings.Contains(out, "\n  run         build each topology, run its steps, tear it down\n") {
		t.Errorf("help: exit %d", code)
	}
}

func TestGraph(t *testing.T) {
	out, _, code := cli(t, "", "graph", example("seed.yaml"))
	if code != 0 || !strings.Contains(out, "graph LR") || !strings.Contains(out, `n_red ---|"veth-red 10.1.1.1/24 — veth-blue 10.1.1.2/24"| n_blue`) {
		t.Errorf("mermaid: exit %d\n%s", code, out)
	}
	out, _, code = cli(t, "", "graph", "--format", "dot", example("lan.yaml"))
	for _, want := range []string{`graph "lan" {`, `"gw" [shape=box, style=rounded`, `"office" [shape=ellipse`, `"h1" -- "office"`, `"gw" -- "server"`} {
		if !strings.Contains(out, want) {
			t.Errorf("dot: no %q in\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("dot: exit %d", code)
	}
}

func TestRunPasses(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "ip")
	out, _, code := cli(t, "", "run", example("seed.yaml"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, re := range []string{
		`(?m)^=== seed \(` + regexp.QuoteMeta(example("seed.yaml")) + `\): 2 nodes, 1 link$`,
		`(?m)^    built in [0-9.]+m?s$`,
		`(?m)^--- PASS: seed/01 ip addr inside red \([0-9.]+m?s\)$`,
		`(?m)^        .*inet 10\.1\.1\.1/24`,
		`(?m)^--- PASS: seed/02 ping red -> 10\.1\.1\.2 \([0-9.]+m?s\)$`,
		`(?m)^--- PASS: seed/05 ping blue -> 127\.0\.0\.1 \([0-9.]+m?s\)$`,
		`(?m)^ok   seed: 5 passed, 0 failed \(`,
		`PASS: 5 passed, 0 failed, 0 skipped\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s", re)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour on a pipe")
	}
}

func TestDemo(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "ip")
	out, _, code := cli(t, "")
	if code != 0 || !strings.Contains(out, "nettest-run demo: the seed tutorial") || !strings.Contains(out, "PASS: 5 passed, 0 failed, 0 skipped") {
		t.Errorf("nettest-run with no arguments: exit %d", code)
	}
}

// junitDoc is what the test reads back of --junit.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Class   string `xml:"classname,attr"`
			Time    string `xml:"time,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Out string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestRunFails(t *testing.T) {
	testenv.RequirePrivilege(t)
	file := scenarioFile(t, "failing.yaml", failing)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, _, code := cli(t, "", "run", file, "--junit", junit)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"--- PASS: failing/01 ping red -> blue (",
		"--- FAIL: failing/02 no ping red -> blue (",
		"    ping red -> blue (10.1.1.2): 1/1 replies, rtt min/avg/max",
		", want none\n",
		"--- PASS: failing/03 exec blue: echo hello from $(hostname) (",
		"        hello from blue\n",
		"FAIL failing: 2 passed, 1 failed (",
		"FAIL: 2 passed, 1 failed, 0 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q", want)
		}
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if doc.Tests != 3 || doc.Failures != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 3 {
		t.Fatalf("junit: %+v", doc)
	}
	c := doc.Suites[0].Cases[1]
	if c.Name != "02 no ping red -> blue" || c.Class != "failing" || c.Failure == nil || !strings.Contains(c.Failure.Message, "want none") {
		t.Errorf("junit case 2: %+v", c)
	}
	if out := doc.Suites[0].Cases[2].Out; out != "hello from blue\n" {
		t.Errorf("junit case 3 system-out: %q", out)
	}
}

// TestRunJSON: --json prints test2json's events, one JSON object a line.
func TestRunJSON(t *testing.T) {
	testenv.RequirePrivilege(t)
	file := scenarioFile(t, "failing.yaml", failing)
	out, _, code := cli(t, "", "run", "--json", file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	type event struct {
		Time    time.Time
		Action  string
		Package string
		Test    string
		Elapsed *float64
		Output  string
	}
	actions := map[string]string{} // test -> its final action
	var outputs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e event
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if e.Time.IsZero() || e.Package != file {
			t.Errorf("event %+v: no time or wrong package", e)
		}
		switch e.Action {
		case "start", "run", "output":
		case "pass", "fail", "skip":
			if e.Elapsed == nil {
				t.Errorf("event %+v: no Elapsed", e)
			}
			actions[e.Test] = e.Action
		default:
			t.Errorf("event %+v: action not test2json's", e)
		}
		if e.Action == "output" {
			outputs = append(outputs, e.Output)
		}
	}
	want := map[string]string{
		"failing": "fail", "": "fail",
		"failing/01 ping red -> blue": "pass", "failing/02 no ping red -> blue": "fail", "failing/03 exec blue: echo hello from $(hostname)": "pass",
	}
	for test, action := range want {
		if actions[test] != action {
			t.Errorf("test %q: %q, want %q", test, actions[test], action)
		}
	}
	if !strings.Contains(strings.Join(outputs, ""), "--- FAIL: failing/02 no ping red -> blue (") {
		t.Errorf("no --- FAIL line in the output events")
	}
}

// TestRunFilter: -run selects checks by name.
func TestRunFilter(t *testing.T) {
	testenv.RequirePrivilege(t)
	file := scenarioFile(t, "failing.yaml", failing)
	out, _, code := cli(t, "", "run", "-run", "/0[13] ", file)
	if code != 0 || !strings.Contains(out, "PASS: 2 passed, 0 failed, 0 skipped") || strings.Contains(out, "failing/02") {
		t.Errorf("-run: exit %d", code)
	}
	out, _, code = cli(t, "", "run", "-failfast", file)
	if code != 1 || !strings.Contains(out, "FAIL: 1 passed, 1 failed, 1 skipped") {
		t.Errorf("-failfast: exit %d", code)
	}
}

// TestKeepOnFailure: a failed topology stays up, reachable by status,
// exec and ip netns, until down.
func TestKeepOnFailure(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	name := uniq("keep")
	file := scenarioFile(t, "failing.yaml", failing)
	t.Cleanup(func() { cli(t, "", "down", name) })
	out, _, code := cli(t, "", "run", "--keep-on-failure", "--set", "NAME="+name, file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"kept " + name + " up to explore",
		"ip netns exec nettest-" + name + ".red",
		"nettest-run shell " + name + " red",
		"nettest-run down " + name,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output has no %q", want)
		}
	}
	if persisted, _ := nettest.ListPersisted(); strings.Join(persisted[name], " ") != "blue red" {
		t.Errorf("persisted: %v", persisted[name])
	}
	out, _, code = cli(t, "", "exec", name, "blue", "--", "cat", "/sys/class/net/veth-blue/address")
	if code != 0 || len(strings.TrimSpace(out)) != 17 {
		t.Errorf("exec in the kept topology: exit %d", code)
	}
	if _, _, code = cli(t, "", "down", name); code != 0 {
		t.Errorf("down: exit %d", code)
	}
	noLeftovers(t, name)
}

const labYAML = `name: ${NAME}
params: {NAME: lab}
topology:
  nodes: [h1, {name: r1, kind: router}, h2]
  links:
    - endpoints: [h1, r1]
    - endpoints: [r1, h2 10.9.0.2/24]
  routes:
    h1: [default via r1]
  processes:
    - name: web
      node: h2
      echo: {port: 8080}
    - name: sleeper
      nodes: [h1, r1]
      command: [sleep, "600"]
      files: {note: "I am ${NODE}"}
      ready: {file: "${FILES}/note"}
`

// TestUpStatusExecShellDown: a topology that stays up, explored and torn down.
func TestUpStatusExecShellDown(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "sleep", "sh")
	name := uniq("lab")
	file := scenarioFile(t, "lab.yaml", labYAML)
	t.Cleanup(func() { cli(t, "", "down", name) })
	out, _, code := cli(t, "", "up", "--set", "NAME="+name, file)
	if code != 0 || !strings.Contains(out, name+" is up") || !strings.Contains(out, "nettest-run shell "+name+" h1") {
		t.Fatalf("up: exit %d", code)
	}
	if _, errOut, code := cli(t, "", "up", "--set", "NAME="+name, file); code != 2 || !strings.Contains(errOut, "is up already") {
		t.Errorf("second up: exit %d", code)
	}
	st, err := lab.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Processes) != 3 {
		t.Fatalf("state has %d processes, want 3: %+v", len(st.Processes), st.Processes)
	}
	for _, p := range st.Processes {
		if !p.Alive() {
			t.Errorf("process %s (pid %d) is not running after up returned", p.Name, p.PID)
		}
	}
	out, _, code = cli(t, "", "status")
	for _, re := range []string{
		`(?m)^` + name + ` \(up .*lab\.yaml, since `,
		`(?m)^  h1 +host +nettest-` + name + `\.h1$`,
		`(?m)^  r1 +router `,
		`(?m)^      eth0 +UP +10\.9\.0\.2/24$`,
		`(?m)^      pid \d+ +nettest-shim:h2 \[nettest-run: web\]$`,
		`(?m)^      pid \d+ +sleep 600$`,
		`(?m)^      pid \d+ +nettest-shim:r1 \[nettest-run: sleeper@r1\]$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status does not match %s", re)
		}
	}
	if code != 0 {
		t.Errorf("status: exit %d", code)
	}
	out, _, code = cli(t, "", "exec", name, "h1", "--", "sh", "-c", "hostname; grep -w h2 /etc/hosts; cat "+filepath.Join(lab.FilesDir(st.Name), "sleeper@h1", "note"))
	if code != 0 || !strings.HasPrefix(out, "h1\n10.9.0.2\th2 h2-eth0\n") || !strings.HasSuffix(out, "I am h1") {
		t.Errorf("exec: exit %d, output %q", code, out)
	}
	if _, _, code = cli(t, "", "exec", name, "h1", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec's exit code: %d, want 3", code)
	}
	out, _, code = cli(t, "hostname\nip -br addr show eth0\n", "shell", name, "h2")
	if code != 0 || !strings.HasPrefix(out, "h2\neth0") || !strings.Contains(out, "10.9.0.2/24") {
		t.Errorf("shell: exit %d, output %q", code, out)
	}
	_, errOut, code := cli(t, "", "exec", name, "h9", "--", "true")
	if code != 2 || !strings.Contains(errOut, `has no node "h9" (nodes: h1, r1, h2)`) {
		t.Errorf("exec in an unknown node: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli(t, "", "shell", "nosuch", "h1")
	if code != 2 || !strings.Contains(errOut, `no topology "nosuch" is up (up: `) || !strings.Contains(errOut, name) {
		t.Errorf("shell in an unknown topology: exit %d: %s", code, errOut)
	}
	out, _, code = cli(t, "", "down", name)
	if code != 0 || out != name+" is down\n" {
		t.Errorf("down: exit %d", code)
	}
	for _, p := range st.Processes {
		if p.Alive() {
			t.Errorf("process %s (pid %d) outlived down", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(lab.FilesDir(st.Name)); err == nil {
		t.Errorf("%s outlived down", lab.FilesDir(st.Name))
	}
	noLeftovers(t, name)
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is already down (no lab of that name is up)\n" {
		t.Errorf("second down: exit %d, want 0 saying it is already down", code)
	}
}

// TestCleanLeavesForeign: clean removes what nettest-run made, and a
// namespace made with plain `ip netns add` survives it.
func TestCleanLeavesForeign(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "ip", "sleep")
	foreign := "ntr-foreign-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", foreign).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", foreign).Run() })
	name := uniq("clean")
	file := scenarioFile(t, "lab.yaml", labYAML)
	t.Cleanup(func() { cli(t, "", "down", name) })
	if _, _, code := cli(t, "", "up", "--set", "NAME="+name, file); code != 0 {
		t.Fatalf("up: exit %d", code)
	}
	st, err := lab.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := cli(t, "", "clean")
	if code != 0 || !strings.Contains(out, "removed "+name+"\n") {
		t.Errorf("clean: exit %d", code)
	}
	for _, p := range st.Processes {
		if p.Alive() {
			t.Errorf("process %s (pid %d) outlived clean", p.Name, p.PID)
		}
	}
	noLeftovers(t, name)
	if _, err := os.Stat(filepath.Join(nettest.NetnsDir, foreign)); err != nil {
		t.Errorf("clean removed the foreign namespace %s: %v", foreign, err)
	}
	if out, err := exec.Command("ip", "netns", "exec", foreign, "true").CombinedOutput(); err != nil {
		t.Errorf("the foreign namespace does not work after clean: %v %s", err, out)
	}
}

const captured = `name: ${NAME}
params: {NAME: captured}
topology:
  nodes: [red, blue]
  links:
    - endpoints: [red:veth-red 10.1.1.1/24, blue:veth-blue 10.1.1.2/24]
steps:
  - capture: {iface: blue:veth-blue, name: c1}
  - ping: {from: red, to: blue}
  - saw-packet: {capture: c1, proto: tcp}
`

// TestRunCaptureKept: a failed run's captures stay and their paths are
// printed; --artifacts (or NETTEST_ARTIFACTS) keeps them there, passed or
// failed.
func TestRunCaptureKept(t *testing.T) {
	testenv.RequirePrivilege(t)
	file := scenarioFile(t, "captured.yaml", captured)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, _, code := cli(t, "", "run", "--junit", junit, file)
	m := regexp.MustCompile(`(?m)^    capture c1 \(blue:veth-blue\) kept: (/\S+/c1\.pcapng) \((\d+) frames; tshark -r or wireshark opens it\)$`).FindStringSubmatch(out)
	if code != 1 || m == nil {
		t.Fatalf("exit %d, want 1 and the capture's path", code)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(m[1])) })
	f, err := os.Open(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pkts, err := nettest.ReadPcapng(f); err != nil || strconv.Itoa(len(pkts)) != m[2] {
		t.Errorf("%s: %d frames (%v), %s printed", m[1], len(pkts), err, m[2])
	}
	if data, err := os.ReadFile(junit); err != nil || !strings.Contains(string(data), `<property name="capture c1" value="`+m[1]+`"></property>`) {
		t.Errorf("the JUnit report does not name the capture (%v):\n%s", err, data)
	}

	dir := t.TempDir()
	pass := scenarioFile(t, "captured.yaml", strings.Replace(captured, "proto: tcp", "proto: icmp", 1))
	out, _, code = cli(t, "", "run", "--artifacts", dir, pass)
	kept := filepath.Join(dir, "captured", "c1.pcapng")
	if code != 0 || !strings.Contains(out, "    capture c1 (blue:veth-blue) kept: "+kept+" (") {
		t.Errorf("--artifacts: exit %d", code)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Error(err)
	}
}

// TestUpUserspaceLinks: a userspace link's forwarder lives in the lab's
// supervisor, so a lab with one works after up returns: the delay shows
// in ping's round trip.
func TestUpUserspaceLinks(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "ping")
	name := uniq("slow")
	file := scenarioFile(t, "slow.yaml", "name: "+name+"\ntopology:\n  nodes: [a, b]\n  links:\n    - endpoints: [a, b]\n      impair: {both: {delay: 10ms}}\n      impair-via: userspace\n")
	t.Cleanup(func() { cli(t, "", "down", name) })
	if out, _, code := cli(t, "", "up", file); code != 0 || !strings.Contains(out, "link a-b: impaired in userspace, by the lab's supervisor") {
		t.Fatalf("up: exit %d", code)
	}
	out, _, code := cli(t, "", "exec", name, "a", "ping", "-c", "2", "-i", "0.2", "-W", "2", "b")
	if m := regexp.MustCompile(`rtt min/avg/max/mdev = ([0-9.]+)/`).FindStringSubmatch(out); code != 0 || m == nil {
		t.Fatalf("ping a -> b over the userspace link: exit %d", code)
	} else if rtt, _ := strconv.ParseFloat(m[1], 64); rtt < 20 {
		t.Errorf("ping's smallest round trip is %vms, want at least 20ms (10ms each way)", rtt)
	}
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is down\n" {
		t.Errorf("down: exit %d", code)
	}
	noLeftovers(t, name)
}

// TestBinaryInTmp runs nettest-run from a file at the top of /tmp, which a
// node's own /tmp hides: the scenario's echo process, nettest-run run
// again inside the node, must still start.
func TestBinaryInTmp(t *testing.T) {
	testenv.RequirePrivilege(t)
	if bin == "" {
		t.Skip("skipping: no nettest-run binary built here")
	}
	src, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp("/tmp", "nettest-run-top-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.Write(src); err != nil {
		t.Fatal(err)
	}
	f.Chmod(0o755)
	f.Close()
	file := scenarioFile(t, "echo.yaml", `name: echo
topology:
  nodes: [a, b]
  links:
    - endpoints: [a, b]
  processes:
    - {name: web, node: b, echo: {port: 8080}}
steps:
  - dial: {from: a, to: b, port: 8080}
`)
	out, err := exec.Command(f.Name(), "run", file).CombinedOutput()
	if err != nil {
		t.Fatalf("%s run %s: %v\n%s", f.Name(), file, err, out)
	}
}
