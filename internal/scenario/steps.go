package scenario

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// recorder is the assertions package's TestingT for the CLI: it keeps the
// messages a check reports, so that the CLI prints the same text a Go test
// would.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// step runs one step and returns its output lines and, if it failed, why.
func (r *Run) step(ctx context.Context, st *StepPlan) ([]string, string) {
	s := st.Spec
	fail := func(err error) ([]string, string) {
		if err != nil {
			return nil, err.Error()
		}
		return nil, ""
	}
	if failure, ok := r.netStep(ctx, st); ok {
		return nil, failure
	}
	switch {
	case s.LinkDown != nil:
		l, err := r.Network.Link(s.LinkDown.V)
		if err != nil {
			return fail(err)
		}
		return fail(l.SetDown())
	case s.LinkUp != nil:
		l, err := r.Network.Link(s.LinkUp.V)
		if err != nil {
			return fail(err)
		}
		return fail(l.SetUp(ctx))
	case s.Start != nil:
		var errs []error
		for _, in := range r.S.Instances(s.Start.V) {
			errs = append(errs, r.startProc(ctx, in))
		}
		return fail(errors.Join(errs...))
	case s.Stop != nil:
		var errs []error
		for _, in := range r.S.Instances(s.Stop.V) {
			p := r.procs[in.Name]
			if p == nil || p.cmd.Exited() && p.stopped {
				errs = append(errs, fmt.Errorf("process %s: not running", in.Name))
				continue
			}
			p.stopped = true
			if err := p.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("process %s: %w", in.Name, err))
			}
		}
		return fail(errors.Join(errs...))
	case s.Eventually != nil:
		return r.check(ctx, st, &s.Eventually.Step, s.Eventually.Within.D, s.Eventually.Every.D)
	}
	return r.check(ctx, st, &s.Check, 0, 0)
}

// check runs a check of st, with eventually's timing when within > 0.
func (r *Run) check(ctx context.Context, st *StepPlan, c *Check, within, every time.Duration) ([]string, string) {
	opts := []assertions.Option{assertions.Context(ctx)}
	if within > 0 {
		opts = append(opts, assertions.Within(within))
		if every > 0 {
			opts = append(opts, assertions.Every(every))
		}
	}
	family := func(f Text) []assertions.Option {
		switch f.V {
		case "ipv4":
			return []assertions.Option{assertions.IPv4()}
		case "ipv6":
			return []assertions.Option{assertions.IPv6()}
		case "both":
			return []assertions.Option{assertions.IPv4(), assertions.IPv6()}
		}
		return nil
	}
	timeout := func(d Duration) []assertions.TimeoutOption {
		if d.D > 0 {
			return []assertions.TimeoutOption{assertions.Timeout(d.D)}
		}
		return nil
	}
	rec := &recorder{}
	n := r.Network
	switch {
	case c.Ping != nil, c.NoPing != nil:
		p := c.Ping
		if p == nil {
			p = c.NoPing
		}
		popts := append(asOptions[assertions.PingOption](append(opts, family(p.Family)...)), asOptions[assertions.PingOption](timeout(p.Timeout))...)
		if p.Count > 0 {
			popts = append(popts, assertions.Count(p.Count))
		}
		if c.Ping != nil {
			assertions.Ping(rec, n, p.From.V, p.To.V, popts...)
		} else {
			assertions.NoPing(rec, n, p.From.V, p.To.V, popts...)
		}
	case c.Dial != nil:
		d := c.Dial
		opts = append(opts, family(d.Family)...)
		proto := cmpOr(d.Proto.V, "tcp")
		nopts := append(asOptions[assertions.NoDialOption](opts), asOptions[assertions.NoDialOption](timeout(d.Timeout))...)
		switch d.Expect.V {
		case "", "open":
			dopts := append(asOptions[assertions.DialOption](opts), asOptions[assertions.DialOption](timeout(d.Timeout))...)
			assertions.CanDial(rec, n, d.From.V, proto, d.To.V, d.Port, dopts...)
		case "refused":
			assertions.NoDial(rec, n, d.From.V, proto, d.To.V, d.Port, append(nopts, assertions.Refused())...)
		case "timeout":
			assertions.NoDial(rec, n, d.From.V, proto, d.To.V, d.Port, append(nopts, assertions.TimedOut())...)
		}
	case c.Route != nil:
		rt := c.Route
		ropts := asOptions[assertions.RouteOption](append(opts, family(rt.Family)...))
		switch {
		case rt.Via.V != "":
			assertions.RouteVia(rec, n, rt.Node.V, rt.To.V, rt.Via.V, ropts...)
		case rt.Dev.V != "":
			assertions.RouteDev(rec, n, rt.Node.V, rt.To.V, rt.Dev.V, ropts...)
		case rt.Src.V != "":
			assertions.RouteSrc(rec, n, rt.Node.V, rt.To.V, rt.Src.V, ropts...)
		default:
			assertions.NoRoute(rec, n, rt.Node.V, rt.To.V, ropts...)
		}
	case c.Exec != nil:
		return r.exec(ctx, c.Exec, within, every)
	case c.SawPacket != nil, c.NoPacket != nil:
		p := cmpPtr(c.SawPacket, c.NoPacket)
		rc := r.captures[p.Capture.V]
		if rc == nil {
			return nil, "capture " + p.Capture.V + ": not started (its capture step failed)"
		}
		popts := asOptions[assertions.PacketOption](append(opts, family(p.Family)...))
		if c.SawPacket != nil {
			assertions.SawPacket(rec, rc.c, st.match, popts...)
		} else {
			assertions.NoPacket(rec, rc.c, st.match, popts...)
		}
	}
	return nil, rec.String()
}

// asOptions gives options of a wider family (an Option is of every family,
// a TimeoutOption of the ping and dial ones) as those of one check's.
func asOptions[O, I any](in []I) []O {
	out := make([]O, 0, len(in))
	for _, o := range in {
		out = append(out, any(o).(O))
	}
	return out
}

const defaultExecTimeout = 30 * time.Second

// exec runs an exec check, again every `every` until it passes or within
// is up, and returns the last try's output.
func (r *Run) exec(ctx context.Context, e *ExecStep, within, every time.Duration) ([]string, string) {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	start := time.Now()
	last := "" // what the last complete try saw
	for {
		out, seen, want := r.execOnce(ctx, e)
		if seen == "" {
			return out, ""
		}
		what := func(still bool) string {
			msg := "exec " + e.Node.V + ": " + e.Command.String() + ": "
			if still {
				msg += "still " + seen + " after " + within.String()
			} else {
				msg += seen
			}
			if want != "" {
				msg += ", want " + want
			}
			return msg
		}
		stopped := func() ([]string, string) {
			msg := "exec " + e.Node.V + ": " + e.Command.String() + ": stopped"
			if last != "" {
				msg += "; the last complete try saw: " + last
			}
			return out, msg
		}
		if ctx.Err() != nil { // this try was cut short
			return stopped()
		}
		left := within - time.Since(start)
		if left <= 0 {
			return out, what(within > 0)
		}
		last = what(false)
		select {
		case <-time.After(min(every, left)):
		case <-ctx.Done():
			return stopped()
		}
	}
}

// execOnce runs the command once; seen and want say what was wrong, if anything.
func (r *Run) execOnce(ctx context.Context, e *ExecStep) (out []string, seen, want string) {
	node, err := r.Network.Node(e.Node.V)
	if err != nil {
		return nil, err.Error(), ""
	}
	cmd := node.Command(e.Command.Args[0], e.Command.Args[1:]...)
	// Each stream is written by one goroutine, done when Wait returns;
	// the command's log has both, interleaved.
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	timeout := defaultExecTimeout
	if e.Timeout.D > 0 {
		timeout = e.Timeout.D
	}
	if err := cmd.Start(); err != nil {
		return nil, err.Error(), ""
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timedOut := false
	select {
	case err = <-done:
	case <-time.After(timeout):
		timedOut = true
		cmd.Stop(time.Second)
		err = <-done
	case <-ctx.Done():
		cmd.Stop(time.Second)
		err = <-done
	}
	text := strings.TrimRight(cmd.Log(), "\n")
	if text != "" {
		out = strings.Split(text, "\n")
	}
	code := 0
	var ee *nettest.ExitError
	switch {
	case timedOut:
		return out, "still running after " + timeout.String(), "an exit within the timeout"
	case errors.As(err, &ee):
		if _, scanErr := fmt.Sscanf(ee.Err.Error(), "exit status %d", &code); scanErr != nil {
			return out, ee.Err.Error(), "an exit"
		}
	case err != nil:
		return out, err.Error(), ""
	}
	wantCode := 0
	if e.Exit != nil {
		wantCode = *e.Exit
	}
	if code != wantCode {
		return out, fmt.Sprintf("exit status %d", code), fmt.Sprintf("exit status %d", wantCode)
	}
	for _, m := range []struct {
		name  string
		match *Match
		text  string
	}{{"stdout", e.Stdout, stdout.String()}, {"stderr", e.Stderr, stderr.String()}} {
		if m.match == nil {
			continue
		}
		for _, c := range m.match.Contains {
			if !strings.Contains(m.text, c.V) {
				return out, m.name + " without " + quote(c.V), m.name + " containing it"
			}
		}
		for _, c := range m.match.NotContains {
			if strings.Contains(m.text, c.V) {
				return out, m.name + " containing " + quote(c.V), m.name + " without it"
			}
		}
		if m.match.Regex.V != "" && !regexp.MustCompile(m.match.Regex.V).MatchString(m.text) {
			return out, m.name + " not matching " + quote(m.match.Regex.V), "a match"
		}
	}
	return out, "", ""
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
