package scenario_test

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
)

// interrupter is an observer that ends the run's context a moment after
// the step it names starts (or the build, for "setup").
type interrupter struct {
	step   string // a step's full name ends with it; "setup": the build
	cancel context.CancelCauseFunc
	cause  error
	delay  time.Duration // after the step starts; 0: 300ms
	once   sync.Once
	at     time.Time // when it cancelled
	mu     sync.Mutex
}

func (o *interrupter) fire() {
	o.once.Do(func() {
		time.AfterFunc(cmp.Or(o.delay, 300*time.Millisecond), func() {
			o.mu.Lock()
			o.at = time.Now()
			o.mu.Unlock()
			o.cancel(o.cause)
		})
	})
}

func (o *interrupter) Building(*scenario.Scenario) {
	if o.step == "setup" {
		o.fire()
	}
}
func (o *interrupter) Built(*scenario.Scenario, time.Duration, error) {}
func (o *interrupter) StepStart(_ *scenario.Scenario, name string) {
	if o.step != "setup" && strings.HasSuffix(name, o.step) {
		o.fire()
	}
}
func (o *interrupter) StepDone(*scenario.Scenario, *scenario.StepResult) {}

// TestRunInterrupted: every step that waits stops at once when the run's
// context ends: it is recorded as interrupted (not failed), with the
// context's cause, no later step runs, and the teardown completes.
func TestRunInterrupted(t *testing.T) {
	testenv.RequirePrivilege(t)
	procs := `    - {name: slow, node: h1, command: sleep 100, start: false, ready: {log: never, within: 20s}}
    - {name: stubborn, node: h1, command: ["sh", "-c", "trap '' TERM; echo up; sleep 100"], start: false, ready: {log: up}}
`
	unready := `    - {name: unready, node: h1, command: sleep 100, ready: {log: never, within: 20s}}
`
	deny := "  - deny: {node: h2, direction: input, proto: tcp, dport: 8080}\n"
	for _, c := range []struct {
		name   string
		procs  string // more processes
		before string // steps before the one interrupted
		step   string // the step interrupted, and its name's end
		name2  string
		want   string // in its failure, after the cause
	}{
		{"eventually ping", "", "", "eventually: {within: 20s, step: {ping: {from: h1, to: 10.2.0.9, timeout: 100ms}}}", "(within 20s)", "its last complete try saw: ping h1 -> 10.2.0.9"},
		{"ping", "", "", "ping: {from: h1, to: 10.2.0.9, timeout: 20s}", "ping h1 -> 10.2.0.9", ""},
		{"dial", "", deny, "dial: {from: h1, to: h2, port: 8080, timeout: 20s}", "port 8080: open", ""},
		{"eventually dial", "", deny, "eventually: {within: 20s, step: {dial: {from: h1, to: h2, port: 8080, timeout: 100ms}}}", "(within 20s)", "its last complete try saw: dial tcp h1 -> h2"},
		{"eventually route", "", "", "eventually: {within: 20s, step: {route: {node: h1, to: 10.2.0.2, none: true}}}", "(within 20s)", "its last complete try saw: route to 10.2.0.2 on h1"},
		{"exec", "", "", "exec: {node: h1, command: sleep 30}", "exec h1: sleep 30", ""},
		{"eventually exec", "", "", "eventually: {within: 20s, every: 10s, step: {exec: {node: h1, command: \"false\"}}}", "(within 20s)", "its last complete try saw: exec h1: false: exit status 1, want exit status 0"},
		{"flap", "", "", "flap: {link: wan, down: 20s, up: 1s}", "flap wan: down 20s, up 1s", ""},
		{"start", procs, "", "start: slow", "start slow", ""},
		{"stop", procs, "  - start: stubborn\n", "stop: stubborn", "stop stubborn", ""},
		{"eventually saw-packet", "", "  - capture: {iface: h2:eth0, name: c1}\n",
			"eventually: {within: 20s, step: {saw-packet: {capture: c1, proto: tcp, dport: 9}}}", "(within 20s)", "its last complete try saw: capture h2:eth0: 0 of"},
		{"setup", unready, "", "ping: {from: h1, to: h2}", "setup", "the setup stopped at: "}, // building, or waiting for unready
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := "name: intr\n" + routed + c.procs + "steps:\n" + c.before + "  - " + c.step + "\n  - ping: {from: h1, to: h2}\n"
			s, err := scenario.Parse("t.yaml", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			cause := errors.New("interrupted by the test")
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o := &interrupter{step: c.name2, cancel: cancel, cause: cause}
			if strings.Contains(c.want, "last complete try") {
				// Time for one whole try first, even on a loaded machine.
				o.delay = 2 * time.Second
			}
			r := scenario.NewRun(s, scenario.Options{Observer: o})
			closed := false
			t.Cleanup(func() {
				if !closed {
					r.Close()
				}
			})
			if r.Setup(ctx) == nil {
				r.Steps(ctx)
			}
			o.mu.Lock()
			at := o.at
			o.mu.Unlock()
			if at.IsZero() {
				for _, res := range r.Results {
					t.Logf("%s: %s %s", res.Name, res.Status, res.Failure)
				}
				t.Fatalf("the step %q never started", c.name2)
			}
			if late := time.Since(at); late > time.Second {
				t.Errorf("the run stopped %v after the interruption", late)
			}
			t0 := time.Now()
			r.Close()
			closed = true
			if d := time.Since(t0); d > 6*time.Second {
				t.Errorf("teardown took %v", d)
			}
			if r.Failed() || !errors.Is(r.Interrupted(), cause) {
				t.Errorf("failed %v, interrupted %v; want interrupted by the test, not failed", r.Failed(), r.Interrupted())
			}
			last := r.Results[len(r.Results)-1]
			if !strings.HasSuffix(last.Name, c.name2) || last.Status != scenario.Interrupted {
				t.Fatalf("last result %s: %s, want %s interrupted\n%s", last.Name, last.Status, c.name2, last.Failure)
			}
			if !strings.HasPrefix(last.Failure, "interrupted by the test after ") || !strings.Contains(last.Failure, c.want) {
				t.Errorf("%s: %q, want the cause and %q", last.Name, last.Failure, c.want)
			}
			for _, res := range r.Results[:len(r.Results)-1] {
				if res.Status != scenario.Pass {
					t.Errorf("%s: %s, want pass\n%s", res.Name, res.Status, res.Failure)
				}
			}
		})
	}
}

// TestRunCloseInAHurry: CloseContext with a context that has ended kills
// a process that ignores SIGTERM at once, as no failure, and still tears
// everything down.
func TestRunCloseInAHurry(t *testing.T) {
	testenv.RequirePrivilege(t)
	s, err := scenario.Parse("t.yaml", []byte("name: hurry\n"+routed+`    - {name: stubborn, node: h1, command: ["sh", "-c", "trap '' TERM; echo up; sleep 100"], ready: {log: up}}
steps:
  - ping: {from: h1, to: h2}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := scenario.NewRun(s, scenario.Options{})
	if r.Setup(t.Context()) == nil {
		r.Steps(t.Context())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t0 := time.Now()
	r.CloseContext(ctx)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("a hurried teardown took %v (the grace is 5s)", d)
	}
	if r.Failed() {
		t.Errorf("failed: %+v", r.Results[len(r.Results)-1])
	}
	if d := r.Detached(); len(d) > 0 {
		t.Errorf("processes left: %+v", d)
	}
}
