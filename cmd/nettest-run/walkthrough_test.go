package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// ringLab is a ring of routers with a host on two of them; h1's link is a
// userspace one, so that it takes any impairment while the lab runs on a
// kernel without netem.
const ringLab = `name: ${NAME}
params: {NAME: ring}
topology:
  auto: {routes: true}
  nodes: [h1, h2, {name: r1, kind: router}, {name: r2, kind: router}, {name: r3, kind: router}]
  links:
    - endpoints: [h1, r1]
      impair-via: userspace
    - endpoints: [r1, r2]
    - endpoints: [r2, r3]
    - endpoints: [r3, r1]
    - endpoints: [h2, r2]
`

// labTest locks the host's state for a test of labs, and skips it where
// labs cannot be made.
func labTest(t *testing.T) {
	t.Helper()
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
}

// upRing brings a ring lab up and returns its name and state.
func upRing(t *testing.T, prefix string) (string, *lab.State) {
	t.Helper()
	name := uniq(prefix)
	t.Cleanup(func() { cli(t, "", "down", name) })
	out, _, code := cli(t, "", "up", "--set", "NAME="+name, scenarioFile(t, "ring.yaml", ringLab))
	if code != 0 || !strings.Contains(out, name+" is up") || !strings.Contains(out, "Its supervisor (pid ") {
		t.Fatalf("up: exit %d", code)
	}
	st, err := lab.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Supervised || !st.Owner.Alive() {
		t.Fatalf("the lab's record names no running supervisor: %+v", st.Owner)
	}
	return name, st
}

// matrixRows returns pingall's matrix rows by source: "r1" -> "ok  ok  -   X   ok".
func matrixRows(out string) map[string]string {
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (h\d|r\d) +(.*)$`).FindAllStringSubmatch(out, -1) {
		rows[m[1]] = strings.Join(strings.Fields(m[2]), " ")
	}
	return rows
}

// TestLabWalkthrough is the walk-through of docs/labs.md: up a ring,
// pingall, a link down and up, an impairment ping sees, a live capture
// tshark reads from a pipe, status --json by its schema, the running
// lab's graph, down twice.
func TestLabWalkthrough(t *testing.T) {
	labTest(t)
	testenv.RequireTools(t, "ping")
	name, st := upRing(t, "walk")

	out, _, code := cli(t, "", "pingall", name, "--family", "ipv4")
	if code != 0 || !strings.Contains(out, "pingall "+name+": 0/20 pings failed\n") {
		t.Errorf("pingall: exit %d, want 0 and no failure", code)
	}
	if rows := matrixRows(out); rows["h1"] != "- ok ok ok ok" || rows["r3"] != "ok ok ok ok -" {
		t.Errorf("pingall's matrix: %q", rows)
	}

	if out, _, code := cli(t, "", "link", name, "r1-r2", "down"); code != 0 || out != "link r1-r2 is down (r1:eth1 and r2:eth0)\n" {
		t.Errorf("link down: exit %d", code)
	}
	// r2's address on the cut link is out of reach of r1 (which has no
	// route to it) and h1 (whose packets r1 refuses); the ring carries
	// the rest around.
	out, _, code = cli(t, "", "pingall", name, "--family", "ipv4")
	if code != 1 || !strings.Contains(out, "pingall "+name+": 2/20 pings failed\n") {
		t.Errorf("pingall with r1-r2 down: exit %d, want 1 and 2 failures", code)
	}
	if rows := matrixRows(out); rows["h1"] != "- ok ok X ok" || rows["r1"] != "ok ok - X ok" || rows["h2"] != "ok - ok ok ok" {
		t.Errorf("pingall's matrix with r1-r2 down: %q", rows)
	}
	if !strings.Contains(out, "\nping r1 -> r2 (198.18.0.6): 0/1 replies") {
		t.Errorf("pingall does not say what r1 -> r2 saw")
	}
	if out, _, code := cli(t, "", "status", name); code != 0 || !regexp.MustCompile(`(?m)^    r1-r2 +r1:eth1 - r2:eth0 +down$`).MatchString(out) {
		t.Errorf("status does not show r1-r2 down: exit %d", code)
	}
	if _, _, code := cli(t, "", "link", name, "r1-r2", "up"); code != 0 {
		t.Errorf("link up: exit %d", code)
	}
	if out, _, code := cli(t, "", "pingall", name, "--family", "ipv4"); code != 0 || !strings.Contains(out, ": 0/20 pings failed") {
		t.Errorf("pingall after link up: exit %d", code)
	}

	if out, _, code := cli(t, "", "impair", name, "h1-r1", "--delay", "20ms"); code != 0 || out != "link h1-r1: delay 20ms both ways (userspace)\n" {
		t.Errorf("impair: exit %d", code)
	}
	out, _, code = cli(t, "", "exec", name, "h1", "ping", "-c", "3", "-i", "0.2", "-W", "2", "r1")
	if m := regexp.MustCompile(`rtt min/avg/max/mdev = ([0-9.]+)/`).FindStringSubmatch(out); code != 0 || m == nil {
		t.Errorf("ping h1 -> r1: exit %d", code)
	} else if rtt, _ := strconv.ParseFloat(m[1], 64); rtt < 40 {
		t.Errorf("ping's smallest round trip over h1-r1 is %vms, want at least 40ms (20ms each way)", rtt)
	}
	if _, errOut, code := cli(t, "", "impair", name, "r1-r2", "--delay", "20ms"); code != 2 || !strings.Contains(errOut, "impair-via: userspace") {
		t.Errorf("a delay on a link without netem or a userspace forwarder: exit %d, want 2 and what to declare", code)
	}
	if _, errOut, code := cli(t, "", "impair", name, "h1-r9", "--delay", "20ms"); code != 2 || !strings.Contains(errOut, `has no link "h1-r9" (links: h1-r1, r1-r2`) {
		t.Errorf("impair of an unknown link: exit %d", code)
	}

	readLiveCapture(t, name)
	statusSchema(t, name, st)

	out, _, code = cli(t, "", "graph", name)
	if code != 0 || !strings.Contains(out, `n_h1 ---|"eth0 198.18.0.1/30 fdf6:fd81:8f7e::1/64 — eth0 198.18.0.2/30 fdf6:fd81:8f7e::2/64 [delay 20ms both ways]"| n_r1`) {
		t.Errorf("graph of the lab: exit %d, no h1-r1 with its automatic addresses and delay", code)
	}

	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is down\n" {
		t.Errorf("down: exit %d", code)
	}
	if st.Owner.Alive() {
		t.Errorf("the supervisor (pid %d) outlived down", st.Owner.PID)
	}
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is already down (no lab of that name is up)\n" {
		t.Errorf("second down: exit %d, want 0 saying so", code)
	}
	noLeftovers(t, name)
}

// readLiveCapture reads a capture of the lab through a pipe with tshark and
// sees h1's pings while the capture still runs; SIGINT ends it with 0.
func readLiveCapture(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("NETTEST_REQUIRE_TOOLS") == "1" {
			t.Error("no tshark (NETTEST_REQUIRE_TOOLS=1)")
		}
		t.Log("no tshark: the live capture is not checked")
		return
	}
	capture := exec.Command(bin, "capture", name, "r1:eth0", "-w", "-")
	if bin == "" {
		capture = exec.Command(os.Args[0], "capture", name, "r1:eth0", "-w", "-")
		capture.Env = append(os.Environ(), runAsCLI+"=1")
	}
	capErr := &lineWriter{started: make(chan struct{})}
	capture.Stderr = capErr
	tshark := exec.Command("tshark", "-l", "-n", "-r", "-")
	pipe, err := capture.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tshark.Stdin = pipe
	tout, err := tshark.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	defer capture.Process.Kill()
	if err := tshark.Start(); err != nil {
		t.Fatal(err)
	}
	defer tshark.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(tout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The capture's socket is live once it says it is capturing.
	select {
	case <-capErr.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the capture did not start within 30s: %s", capErr.String())
	}
	ping := exec.Command(bin, "exec", name, "h1", "ping", "-4", "-c", "3", "-i", "0.2", "r2")
	if bin == "" {
		ping = exec.Command(os.Args[0], "exec", name, "h1", "ping", "-4", "-c", "3", "-i", "0.2", "r2")
		ping.Env = append(os.Environ(), runAsCLI+"=1")
	}
	if out, err := ping.CombinedOutput(); err != nil {
		t.Errorf("ping during the capture: %v\n%s", err, out)
	}
	seen := ""
	timeout := time.After(30 * time.Second)
	for seen == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tshark ended before it showed an ICMP echo; the capture said: %s", capErr.String())
			}
			if strings.Contains(l, "ICMP") && strings.Contains(l, "Echo (ping) request") {
				seen = l
			}
		case <-timeout:
			t.Fatalf("tshark showed no ICMP echo within 30s of the pings, the capture still running; it said: %s", capErr.String())
		}
	}
	t.Logf("tshark, live: %s", seen)
	if capture.ProcessState != nil {
		t.Errorf("the capture ended before the packets were shown")
	}
	capture.Process.Signal(syscall.SIGINT)
	err = capture.Wait()
	if err != nil || !strings.Contains(capErr.String(), "capture of r1:eth0 ended: SIGINT") {
		t.Errorf("capture after SIGINT: %v, want exit 0 saying why it ended:\n%s", err, capErr.String())
	}
	tshark.Wait()
}

// statusSchema checks status --json against docs/lab-status.schema.json
// and against what the walk-through did.
func statusSchema(t *testing.T, name string, st *lab.State) {
	t.Helper()
	out, _, code := cli(t, "", "status", "--json", name)
	if code != 0 {
		t.Fatalf("status --json: exit %d", code)
	}
	var doc any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "lab-status.schema.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Log("no docs/lab-status.schema.json (not run from the source tree): the schema is not checked")
	} else if err != nil {
		t.Fatal(err)
	} else {
		var schema map[string]any
		if err := json.Unmarshal(data, &schema); err != nil {
			t.Fatalf("docs/lab-status.schema.json: %v", err)
		}
		for _, p := range testenv.SchemaProblems(schema, doc) {
			t.Errorf("status --json by docs/lab-status.schema.json: %s", p)
		}
	}
	var s statusOut
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Labs) != 1 {
		t.Fatalf("status --json: %v, %d labs", err, len(s.Labs))
	}
	l := s.Labs[0]
	if l.State != "up" || l.Supervisor == nil || !l.Supervisor.Alive || l.Supervisor.PID != st.Owner.PID || l.Supervisor.Socket != lab.Socket(name) {
		t.Errorf("status --json: state %s, supervisor %+v; want up with pid %d", l.State, l.Supervisor, st.Owner.PID)
	}
	if len(l.Nodes) != 5 || len(l.Links) != 5 {
		t.Errorf("status --json: %d nodes, %d links; want 5 and 5", len(l.Nodes), len(l.Links))
	}
	for _, ln := range l.Links {
		want := linkStatus{Name: ln.Name, Up: true, State: "up", Mechanism: "none", A: ln.A, B: ln.B}
		if ln.Name == "h1-r1" {
			want.Mechanism, want.Impairment = "userspace", impairmentStatus{AB: "delay 20ms", BA: "delay 20ms"}
			if ln.A.Node != "h1" || ln.A.Interface != "eth0" || ln.B.Node != "r1" || strings.Join(ln.A.Addresses, " ") != "198.18.0.1/30 fdf6:fd81:8f7e::1/64" {
				t.Errorf("status --json: link h1-r1's ends %+v %+v", ln.A, ln.B)
			}
		}
		if ln.Mechanism == "tbf+nftables" && ln.Name != "h1-r1" { // a kernel without netem picks it for the others
			want.Mechanism = ln.Mechanism
		}
		if ln.Name != want.Name || ln.Up != want.Up || ln.State != want.State || ln.Mechanism != want.Mechanism || ln.Impairment != want.Impairment {
			t.Errorf("status --json: link %+v, want %+v", ln, want)
		}
	}
	var h1 *nodeStatus
	for i := range l.Nodes {
		if l.Nodes[i].Name == "h1" {
			h1 = &l.Nodes[i]
		}
	}
	if h1 == nil || h1.Kind != "host" || h1.Namespace != nettest.PersistedName(name, "h1") || len(h1.Interfaces) != 2 {
		t.Errorf("status --json: node h1 %+v", h1)
	}
}

// TestLabWalkthroughKilled: a lab whose supervisor was killed (SIGKILL)
// is gone: status says so, the commands that change it refuse, clean
// reaps it and nothing else (a namespace named like nettest's survives),
// and down of such a lab cleans up and says so, then exits 0 again.
func TestLabWalkthroughKilled(t *testing.T) {
	labTest(t)
	testenv.RequireTools(t, "ip")
	decoy := nettest.PersistedName("decoy"+strconv.Itoa(os.Getpid()), "x")
	if out, err := exec.Command("ip", "netns", "add", decoy).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", decoy, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", decoy).Run() })

	name, st := upRing(t, "killed")
	killSupervisor(t, st)
	out, _, code := cli(t, "", "status")
	if code != 0 || !strings.Contains(out, "\n  gone: its supervisor (pid "+strconv.Itoa(st.Owner.PID)+") ended without taking it down") {
		t.Errorf("status of a lab whose supervisor was killed: exit %d, want 0 saying it is gone", code)
	}
	out, _, code = cli(t, "", "status", "--json", name)
	var s statusOut
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 || len(s.Labs) != 1 || s.Labs[0].State != "gone" || s.Labs[0].Supervisor == nil || s.Labs[0].Supervisor.Alive {
		t.Errorf("status --json: exit %d, %+v (%v); want the lab gone", code, s.Labs, err)
	}
	for _, args := range [][]string{{"pingall", name}, {"link", name, "r1-r2", "down"}, {"exec", name, "h1", "true"}} {
		if _, errOut, code := cli(t, "", args...); code != 1 || !strings.Contains(errOut, "lab "+name+" is gone") {
			t.Errorf("%s: exit %d, want 1 saying the lab is gone", strings.Join(args, " "), code)
		}
	}
	out, _, code = cli(t, "", "clean")
	if code != 0 || !strings.Contains(out, "removed "+name+" (gone: its supervisor") || !strings.Contains(out, "left alone: namespace "+decoy+": no record of nettest's") {
		t.Errorf("clean: exit %d, want 0, the lab removed and the decoy left alone", code)
	}
	noLeftovers(t, name)
	if out, err := exec.Command("ip", "netns", "exec", decoy, "true").CombinedOutput(); err != nil {
		t.Errorf("the decoy namespace %s does not work after clean: %v %s", decoy, err, out)
	}
	if out, _, code := cli(t, "", "down", name); code != 0 || !strings.Contains(out, "already down") {
		t.Errorf("down after clean: exit %d", code)
	}

	// down, rather than clean, of a lab whose supervisor was killed.
	name, st = upRing(t, "killed2")
	killSupervisor(t, st)
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is down (it was gone already: its supervisor, pid "+strconv.Itoa(st.Owner.PID)+", had ended without taking it down; removed what it left)\n" {
		t.Errorf("down of a gone lab: exit %d", code)
	}
	if out, _, code := cli(t, "", "down", name); code != 0 || out != name+" is already down (no lab of that name is up)\n" {
		t.Errorf("second down: exit %d", code)
	}
	noLeftovers(t, name)
	if _, err := os.Stat(filepath.Join(nettest.NetnsDir, decoy)); err != nil {
		t.Errorf("the decoy %s did not survive: %v", decoy, err)
	}
}

// killSupervisor kills a lab's supervisor with SIGKILL and waits for it
// to be dead.
func killSupervisor(t *testing.T, st *lab.State) {
	t.Helper()
	if err := syscall.Kill(st.Owner.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && st.Owner.Alive(); time.Sleep(10 * time.Millisecond) {
	}
	if st.Owner.Alive() {
		t.Fatalf("the supervisor (pid %d) outlived SIGKILL by 5s", st.Owner.PID)
	}
}

// TestLabChanges: partition and heal, a link flapping in the background
// until link up, an impairment one way then cleared, the refusals of bad
// requests, and an up that fails leaving nothing.
func TestLabChanges(t *testing.T) {
	labTest(t)
	name, _ := upRing(t, "chg")

	out, _, code := cli(t, "", "partition", name, "h1", "r1")
	if code != 0 || out != "partition p1: h1, r1 cut off (links r1-r2, r3-r1 down); nettest-run heal "+name+" p1 undoes it\n" {
		t.Errorf("partition: exit %d", code)
	}
	out, _, code = cli(t, "", "pingall", name, "h1", "h2", "--family", "ipv4")
	if code != 1 || !strings.Contains(out, ": 2/2 pings failed\n") {
		t.Errorf("pingall h1 h2 across the partition: exit %d, want 1 and both failed", code)
	}
	if out, _, _ := cli(t, "", "status", name); !strings.Contains(out, "\n  partition p1: h1, r1 cut off (links r1-r2, r3-r1 down)\n") {
		t.Errorf("status does not show the partition")
	}
	if out, _, code := cli(t, "", "graph", "--format", "dot", name); code != 0 || !strings.Contains(out, `label="down", style=dashed];`) {
		t.Errorf("graph --format dot of the partitioned lab: exit %d, no link dashed", code)
	}
	if _, errOut, code := cli(t, "", "heal", name, "p9"); code != 2 || !strings.Contains(errOut, `has no partition "p9" (partitions: p1)`) {
		t.Errorf("heal of an unknown partition: exit %d", code)
	}
	if out, _, code := cli(t, "", "heal", name); code != 0 || !strings.HasPrefix(out, "healed p1: ") {
		t.Errorf("heal: exit %d", code)
	}
	if out, _, code := cli(t, "", "pingall", name, "h1", "h2", "--family", "ipv4"); code != 0 || !strings.Contains(out, ": 0/2 pings failed\n") {
		t.Errorf("pingall after heal: exit %d", code)
	}

	if out, _, code := cli(t, "", "link", name, "r2-r3", "flap", "--period", "100ms", "--times", "2"); code != 0 || out != "link r2-r3 flapped 2 times: down 100ms, up 100ms each time; it is up\n" {
		t.Errorf("link flap --times 2: exit %d", code)
	}
	if out, _, code := cli(t, "", "link", name, "r2-r3", "flap", "--period", "200ms", "--times", "0"); code != 0 || !strings.Contains(out, "is flapping") {
		t.Errorf("link flap --times 0: exit %d", code)
	}
	out, _, _ = cli(t, "", "status", "--json", name)
	if !strings.Contains(out, `"state": "flapping"`) {
		t.Errorf("status --json does not say r2-r3 is flapping")
	}
	if _, _, code := cli(t, "", "link", name, "r2-r3", "up"); code != 0 {
		t.Errorf("link up of a flapping link: exit %d", code)
	}
	if out, _, _ := cli(t, "", "status", name); !regexp.MustCompile(`(?m)^    r2-r3 +r2:eth1 - r3:eth0 +up$`).MatchString(out) {
		t.Errorf("status: r2-r3 not up after link up stopped its flapping")
	}

	if out, _, code := cli(t, "", "impair", name, "h1-r1", "--loss", "10%", "--dir", "a-b"); code != 0 || out != "link h1-r1: h1 -> r1: loss 10%; r1 -> h1: none (userspace)\n" {
		t.Errorf("impair --dir a-b: exit %d", code)
	}
	if out, _, code := cli(t, "", "impair", name, "h1-r1", "--clear"); code != 0 || out != "link h1-r1: not impaired (userspace)\n" {
		t.Errorf("impair --clear: exit %d", code)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"impair", name, "h1-r1"}, "say how"},
		{[]string{"impair", name, "h1-r1", "--loss", "200%"}, "more than 100%"},
		{[]string{"impair", name, "h1-r1", "--jitter", "30ms", "--delay", "10ms"}, "jitter"},
		{[]string{"impair", name, "h1-r1", "--delay", "1ms", "--dir", "up"}, `direction "up"`},
		{[]string{"link", name, "r1-r2", "sideways"}, "want down, up or flap"},
		{[]string{"capture", name, "h1:eth9", "-w", "-"}, "no such interface"},
		{[]string{"capture", name, "h9:eth0", "-w", "-"}, `no node "h9"`},
		{[]string{"pingall", "nosuch"}, `no topology "nosuch" is up`},
	} {
		if _, errOut, code := cli(t, "", c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, want 2 and %q", strings.Join(c.args, " "), code, c.want)
		}
	}

	// SIGTERM to the supervisor takes the lab down.
	st, err := lab.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(lab.Log(name)); err != nil || !strings.Contains(string(data), "supervisor of "+name) {
		t.Errorf("the supervisor's log %s: %v\n%s", lab.Log(name), err, data)
	}
	syscall.Kill(st.Owner.PID, syscall.SIGTERM)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && st.Owner.Alive(); time.Sleep(20 * time.Millisecond) {
	}
	if st.Owner.Alive() {
		t.Errorf("the supervisor (pid %d) outlived SIGTERM by 20s", st.Owner.PID)
	}
	noLeftovers(t, name)

	// An up that fails leaves nothing, its supervisor included.
	bad := uniq("badup")
	file := scenarioFile(t, "bad.yaml", "name: "+bad+"\ntopology:\n  nodes: [a, b]\n  links:\n    - endpoints: [a, b]\n  processes:\n    - {name: w, node: a, command: [sleep, \"600\"], ready: {file: \"${FILES}/never\", within: 300ms}}\n")
	t.Cleanup(func() { cli(t, "", "down", bad) })
	if _, errOut, code := cli(t, "", "up", file); code != 1 || !strings.Contains(errOut, "w") {
		t.Errorf("up of a lab whose process is never ready: exit %d, want 1", code)
	}
	noLeftovers(t, bad)
}

// lineWriter collects a command's standard error and closes started at
// the capture's first line ("capturing ...").
type lineWriter struct {
	mu      sync.Mutex
	b       strings.Builder
	started chan struct{}
	once    sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), "capturing ") {
		w.once.Do(func() { close(w.started) })
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
