package scenario_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
)

// TestParseDaemons: the daemons table's problems, each at its place.
func TestParseDaemons(t *testing.T) {
	errs := parseErrs(t, pair+`  daemons:
    c:
      - bird: {config: "router id 1.1.1.1;"}
    a:
      - bird: {config: "router id {{.RouterID;"}
      - frr: {config: "", daemons: [ospfd, /bin/sh]}
      - {bird: {config: x}, frr: {config: y}}
      - daemon: {name: d}
`, nil)
	want := []string{
		`t.yaml:8:5: unknown node "c" (nodes: a, b)`,
		`t.yaml:11:24: bird config: template: bird config:1: bad character U+003B ';'`,
		`t.yaml:12:44: frr daemons: "/bin/sh" is not the name of an FRR daemon (ospfd, bgpd ...)`,
		`t.yaml:13:9: daemon: frr and bird: one per entry (make them separate entries)`,
		`t.yaml:14:17: topology.daemons.a[3].daemon: missing key "command"`,
	}
	if !slices.Equal(errs, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunDaemon: a daemon of the user's own, its file templated with the
// node's facts in the node's own /etc, started before the steps and
// stopped at the end; a route step checks a route's protocol, and the
// converged step waits for the network.
func TestRunDaemon(t *testing.T) {
	testenv.RequireTools(t, "sh", "sleep", "cat", "test")
	r := execute(t, `name: gend
topology:
  nodes: [a, b]
  links:
    - endpoints: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]
  daemons:
    a:
      - daemon:
          name: gend
          dirs: [/run/gend]
          files:
            /etc/gend.conf: "I am {{.Name}}, {{.RouterID}}, next to {{range .Neighbors}}{{.Node}}{{end}} {{.Vars.x}}\n"
          command: sh -c 'touch /run/gend/up; exec sleep 1000'
          ready: test -f /run/gend/up
          vars: {x: y}
steps:
  - exec: {node: a, command: cat /etc/gend.conf, stdout: {contains: "I am a, 10.0.0.1, next to b y"}}
  - route: {node: a, to: b, proto: kernel}
  - converged: {settle: 200ms, within: 10s}
`, scenario.Options{})
	passes(t, r)
}

// TestRunDaemonDetached: a lab left up (Detach) would lose its daemons
// with nettest-run: the setup refuses, at the daemons' place.
func TestRunDaemonDetached(t *testing.T) {
	r := execute(t, `name: gendup
topology:
  nodes: [a, b]
  links:
    - endpoints: [a, b]
  daemons:
    a:
      - daemon: {name: gend, command: sleep 1000}
`, scenario.Options{Detach: true})
	if len(r.Results) != 1 || r.Results[0].Status != scenario.Fail {
		t.Fatalf("want the setup to fail, got %+v", r.Results)
	}
	want := "t.yaml:8:9: daemons: a lab left up does not keep its daemons yet"
	if !strings.HasPrefix(r.Results[0].Failure, want) {
		t.Errorf("failure %q, want it to start with %q", r.Results[0].Failure, want)
	}
}
