package scenario_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// The steps that impair, fault, filter, translate and capture, run. Each
// scenario's checks pass only if its steps did what they say.

// execute parses and runs a scenario.
func execute(t *testing.T, src string, opts scenario.Options) *scenario.Run {
	t.Helper()
	testenv.RequirePrivilege(t)
	if strings.Contains(src, "impair-via: userspace") || strings.Contains(src, "delay:") {
		// A userspace link (or netem): rootless, /dev/net/tun is often root's only.
		fs, err := nettest.DetectFeatures()
		if err != nil {
			t.Fatal(err)
		}
		if !fs.Supported(nettest.FeatureNetem) && !fs.Supported(nettest.FeatureTUN) {
			t.Skipf("skipping: a userspace link needs TUN/TAP: %s", fs.Status(nettest.FeatureTUN).Reason)
		}
	}
	s, err := scenario.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return scenario.Execute(ctx, s, opts)
}

// passes wants every step of the run to have passed.
func passes(t *testing.T, r *scenario.Run) {
	t.Helper()
	for _, res := range r.Results {
		if res.Status != scenario.Pass {
			t.Errorf("%s: %s\n%s", res.Name, res.Status, res.Failure)
		}
	}
	if len(r.Results) != len(r.S.Steps) {
		t.Errorf("%d results for %d steps", len(r.Results), len(r.S.Steps))
	}
}

// result returns the result of a step by its number (from 1).
func result(t *testing.T, r *scenario.Run, num int) *scenario.StepResult {
	t.Helper()
	for _, res := range r.Results {
		if res.Step != nil && res.Step.Num == num {
			return res
		}
	}
	t.Fatalf("no result for step %d", num)
	return nil
}

// routed is the chain h1 - r1 - h2 (IPv4 only) with routes and a web
// server on h2.
var routed = strings.TrimPrefix(chain, "\nname: c") + `  routes:
    h1: default via r1
    h2: default via r1
  processes:
    - {name: web, node: h2, echo: {port: 8080}}
`

// TestRunImpair: a link declared lossy, then impaired one way, the other,
// and not at all (random loss: any kernel's mechanism makes it).
func TestRunImpair(t *testing.T) {
	r := execute(t, `name: impair
topology:
  nodes: [a, b]
  links:
    - endpoints: [a, b]
      impair: {both: {loss: 100%}}
  auto: {ipv6: false}
steps:
  - no-ping: {from: a, to: b}
  - impair: {link: a-b, none: true}
  # Nothing got through, ARP included: the request waits for ARP's next
  # try, up to a second away.
  - ping: {from: a, to: b, timeout: 3s}
  - impair: {link: a:eth0, a-b: {loss: 100%}}
  - no-ping: {from: a, to: b}
  - impair: {link: a-b, b-a: {loss: 100%}}
  - no-ping: {from: a, to: b}
  - impair: {link: a-b, a-b: {loss: 0%}, b-a: {rate: 100mbit}}
  - ping: {from: a, to: b, count: 3}
`, scenario.Options{})
	passes(t, r)
}

// TestRunImpairDelay: a userspace link delays both ways, and a step takes
// the delay away. Without netem, a delay on a plain link is refused with
// a hint.
func TestRunImpairDelay(t *testing.T) {
	r := execute(t, `name: delay
topology:
  nodes: [a, b, c]
  links:
    - endpoints: [a, b]
      impair: {both: {delay: 60ms}}
      impair-via: userspace
    - endpoints: [b, c]
  auto: {ipv6: false}
steps:
  - ping: {from: a, to: b}
  - no-ping: {from: a, to: b, timeout: 100ms}
  - impair: {link: a-b, a-b: {delay: 10ms}}
  - ping: {from: a, to: b, timeout: 100ms}
  - impair: {link: b-c, both: {delay: 10ms}}
`, scenario.Options{})
	for _, res := range r.Results[:4] {
		if res.Status != scenario.Pass {
			t.Errorf("%s: %s\n%s", res.Name, res.Status, res.Failure)
		}
	}
	if res := result(t, r, 1); res.Elapsed < 120*time.Millisecond {
		t.Errorf("a ping over a 60ms delay each way took %v", res.Elapsed)
	}
	fs, err := nettest.DetectFeatures()
	if err != nil {
		t.Fatal(err)
	}
	res := result(t, r, 5)
	switch {
	case fs.Supported(nettest.FeatureNetem):
		if res.Status != scenario.Pass {
			t.Errorf("%s with netem: %s", res.Name, res.Failure)
		}
	case res.Status != scenario.Fail || !strings.Contains(res.Failure, "(in the scenario: impair-via: userspace on the link)"):
		t.Errorf("%s without netem: %s %q, want a failure saying impair-via: userspace", res.Name, res.Status, res.Failure)
	}
}

// TestRunFlap: the step lasts times × (down + up), and the link is up after it.
func TestRunFlap(t *testing.T) {
	r := execute(t, "name: flap\n"+routed+`steps:
  - flap: {link: wan, down: 150ms, up: 100ms, times: 2}
  - ping: {from: h1, to: h2}
`, scenario.Options{})
	passes(t, r)
	if res := result(t, r, 1); res.Elapsed < 500*time.Millisecond || res.Elapsed > 5*time.Second {
		t.Errorf("flapping twice (150ms down, 100ms up) took %v", res.Elapsed)
	}
}

// TestRunPartition: a named partition, an isolation, healed one by name
// and then all.
func TestRunPartition(t *testing.T) {
	passes(t, execute(t, "name: partition\n"+routed+`steps:
  - partition: {name: west, nodes: [h1]}
  - no-ping: {from: h1, to: r1}
  - isolate: h2
  - no-ping: {from: r1, to: h2}
  - heal: west
  - ping: {from: h1, to: r1}
  - no-ping: {from: h1, to: h2}
  - partition: [h1, r1]
  - heal: true
  - ping: {from: h1, to: h2}
`, scenario.Options{}))
}

// TestRunIface: one end of a link down, the other end's node still up.
func TestRunIface(t *testing.T) {
	passes(t, execute(t, "name: iface\n"+routed+`steps:
  - iface-down: r1:eth1
  - no-ping: {from: h1, to: h2}
  - ping: {from: h1, to: 10.1.0.1}
  - route: {node: r1, to: h2, none: true}
  - iface-up: r1:eth1
  - ping: {from: h1, to: h2}
`, scenario.Options{}))
}

// TestRunFirewall: the topology's firewall, then rules and policies added
// and cleared by steps.
func TestRunFirewall(t *testing.T) {
	passes(t, execute(t, "name: firewall\n"+routed+`  firewall:
    h2:
      - default-deny: {direction: input}
      - allow: {proto: icmp, icmp-type: echo-request}
steps:
  - ping: {from: h1, to: h2}
  - dial: {from: h1, to: h2, port: 8080, expect: timeout}
  - allow: {node: h2, proto: tcp, dport: 8080, src: 10.1.0.0/24}
  - dial: {from: h1, to: h2, port: 8080}
  - dial: {from: r1, to: h2, port: 8080, expect: timeout}
  - deny: {node: r1, direction: forward, proto: tcp, dport: 8080, in-iface: eth0}
  - dial: {from: h1, to: h2, port: 8080, expect: timeout}
  - firewall-clear: r1
  - reject: {node: r1, direction: forward, proto: tcp, dport: 8080}
  - dial: {from: h1, to: h2, port: 8080, expect: refused}
  - deny: {node: h1, direction: output, proto: icmp}
  - no-ping: {from: h1, to: h2}
  - firewall-clear: h1
  - firewall-clear: r1
  - default-allow: {node: h2}
  - dial: {from: r1, to: h2, port: 8080}
  - default-deny: {node: h2, direction: [input, output]}
  - no-ping: {from: r1, to: h2}
  - firewall-clear: h2
  - ping: {from: r1, to: h2}
`, scenario.Options{}))
}

// TestRunNAT: masquerade from the topology, cleared; source NAT and a
// masquerade by steps; a port forward. A capture on h2 shows the source
// each time.
func TestRunNAT(t *testing.T) {
	passes(t, execute(t, "name: nat\n"+routed+`  nat:
    r1:
      - masquerade: eth1
steps:
  - capture: {iface: h2:eth0, name: c1}
  - ping: {from: h1, to: h2}
  - saw-packet: {capture: c1, icmp-type: echo-request, src: 10.2.0.1}
  - no-packet: {capture: c1, src: 10.1.0.2}
  - nat-clear: r1
  - capture: {iface: h2:eth0, name: c2}
  - ping: {from: h1, to: h2}
  - saw-packet: {capture: c2, icmp-type: echo-request, src: 10.1.0.2}
  - snat: {node: r1, src: 10.1.0.0/24, to: 10.2.0.1}
  - capture: {iface: h2:eth0, name: c3}
  - dial: {from: h1, to: h2, port: 8080}
  - saw-packet: {capture: c3, proto: tcp, dport: 8080, src: 10.2.0.1}
  - no-packet: {capture: c3, src: 10.1.0.2}
  - nat-clear: r1
  - masquerade: r1:eth1
  - port-forward: {node: r1, port: 80, to: "10.2.0.2:8080"}
  - dial: {from: h1, to: 10.1.0.1, port: 80}
  - dial: {from: h1, to: 10.1.0.1, port: 81, expect: refused}
`, scenario.Options{Artifacts: t.TempDir()}))
	// The topology's NAT is installed before the steps: a port forward on
	// a host to an address not its own fails the setup.
	r := execute(t, "name: natfail\n"+routed+`  nat:
    h1:
      - port-forward: {port: 80, to: 10.2.0.2}
steps:
  - ping: {from: h1, to: h2}
`, scenario.Options{})
	if len(r.Results) != 1 || r.Results[0].Name != "natfail/setup" || !strings.Contains(r.Results[0].Failure, "node h1 is a host, which forwards nothing") {
		t.Errorf("a bad NAT in the topology: %+v", r.Results)
	}
}

// TestRunCapture: checks on a running and a stopped capture, eventually;
// the files are removed after a run that passed, kept after one that
// failed, and kept in Artifacts.
func TestRunCapture(t *testing.T) {
	name := fmt.Sprintf("capture%d", os.Getpid()) // its temporary folders are found by name
	src := "name: " + name + "\n" + routed + `steps:
  - capture: h2:eth0
  - capture: {iface: r1:lo, name: loop}
  - dial: {from: h1, to: h2, port: 8080}
  - saw-packet: {capture: h2:eth0, proto: tcp, dport: 8080, direction: in, family: ipv4}
  - no-packet: {capture: h2:eth0, proto: udp}
  - no-packet: {capture: loop}
  - ping: {from: r1, to: 127.0.0.1}
  - eventually: {within: 2s, step: {saw-packet: {capture: loop, icmp-type: echo-reply}}}
  - capture-stop: h2:eth0
  - ping: {from: h1, to: h2}
  - no-packet: {capture: h2:eth0, icmp-type: echo-request}
  - saw-packet: {capture: loop, proto: icmp}
`
	leftovers := func() []string {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "nettest-run-capture-"+name+"-*"))
		return m
	}
	r := execute(t, src, scenario.Options{})
	passes(t, r)
	if k := r.KeptCaptures(); len(k) != 0 || len(leftovers()) != 0 {
		t.Errorf("a run that passed kept %v, left %v", k, leftovers())
	}

	r = execute(t, src+"  - saw-packet: {capture: loop, proto: udp}\n", scenario.Options{})
	k := r.KeptCaptures()
	t.Cleanup(func() {
		for _, dir := range leftovers() {
			os.RemoveAll(dir)
		}
	})
	if !r.Failed() || len(k) != 2 || k[0].Name != "h2:eth0" || k[1].Name != "loop" || k[1].On != "r1:lo" {
		t.Fatalf("a run that failed kept %+v", k)
	}
	f, err := os.Open(k[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkts, err := nettest.ReadPcapng(f)
	if err != nil || len(pkts) != k[0].Frames || k[0].Frames < 3 {
		t.Errorf("%s: %d frames read (%v), %d said", k[0].Path, len(pkts), err, k[0].Frames)
	}
	if want := "capture loop (r1:lo) kept: " + k[1].Path + " ("; !strings.HasPrefix(k[1].String(), want) {
		t.Errorf("%q does not start with %q", k[1], want)
	}

	dir := t.TempDir()
	r = execute(t, src, scenario.Options{Artifacts: dir})
	passes(t, r)
	for _, file := range []string{"h2-eth0.pcapng", "loop.pcapng"} {
		if _, err := os.Stat(filepath.Join(dir, name, file)); err != nil {
			t.Errorf("artifacts: %v", err)
		}
	}
	if len(r.KeptCaptures()) != 2 {
		t.Errorf("artifacts: kept %v", r.KeptCaptures())
	}
}

// TestRunCaptureInterfaceDown: a capture whose interface goes down records
// again once it is up: the run passes on frames it saw after the fault.
func TestRunCaptureInterfaceDown(t *testing.T) {
	r := execute(t, "name: capdown\n"+routed+`steps:
  - capture: h2:eth0
  - iface-down: h2:eth0
  - iface-up: h2:eth0
  - ping: {from: h1, to: h2}
  - saw-packet: {capture: h2:eth0, icmp-type: echo-request}
`, scenario.Options{Artifacts: t.TempDir()})
	if r.Failed() {
		for _, res := range r.Results {
			t.Errorf("%s: %s %s", res.Name, res.Status, res.Failure)
		}
	}
}

// progressObserver records the build's progress reports.
type progressObserver struct{ stages []string }

func (o *progressObserver) Building(*scenario.Scenario)                       {}
func (o *progressObserver) Built(*scenario.Scenario, time.Duration, error)    {}
func (o *progressObserver) StepStart(*scenario.Scenario, string)              {}
func (o *progressObserver) StepDone(*scenario.Scenario, *scenario.StepResult) {}
func (o *progressObserver) BuildProgress(_ *scenario.Scenario, p nettest.Progress) {
	if len(o.stages) == 0 || o.stages[len(o.stages)-1] != p.Stage {
		o.stages = append(o.stages, p.Stage)
	}
}

// TestRunReportsBuildProgress: an observer that wants it follows the build
// stage by stage (nettest-run's progress line on a terminal).
func TestRunReportsBuildProgress(t *testing.T) {
	o := &progressObserver{}
	r := execute(t, "name: progress\n"+routed+"steps:\n  - ping: {from: h1, to: h2}\n", scenario.Options{Observer: o})
	if r.Failed() {
		t.Fatal("run failed")
	}
	want := []string{"namespaces", "links", "addresses", "routes", "ready"}
	if strings.Join(o.stages, " ") != strings.Join(want, " ") {
		t.Errorf("stages %v, want %v", o.stages, want)
	}
}
