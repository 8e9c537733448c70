package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// The exec step.

// ExecStep runs a command in a node.
type ExecStep struct {
	At      `json:"-"`
	Node    Text     `json:"node,required" doc:"The node to run it in; its hostname there is the node's name and /etc/hosts names every node."`
	Command *Command `json:"command,required" doc:"A list (argv) or a string: \"ip addr\" (split into words), \"ping -c1 h2 && hostname\" (shell syntax: run by sh -c)."`
	Exit    *int     `json:"exit,omitempty" doc:"The exit code expected. Default: 0."`
	Stdout  *Match   `json:"stdout,omitempty" doc:"What its standard output must hold."`
	Stderr  *Match   `json:"stderr,omitempty" doc:"What its standard error must hold."`
	Timeout Duration `json:"timeout,omitempty" doc:"How long it may run before it is stopped and the step fails. Default: 30s."`
}

// Match is an expectation on a command's output.
type Match struct {
	At          `json:"-"`
	Contains    StringList `json:"contains,omitempty" doc:"Text (or a list of texts) the output must contain."`
	NotContains StringList `json:"not-contains,omitempty" doc:"Text (or texts) it must not contain."`
	Regex       Text       `json:"regex,omitempty" doc:"A regular expression (RE2) the output must match; (?m) makes ^ and $ match at lines."`
}

func (e *ExecStep) value() any { return e }

func (e *ExecStep) check(s *Scenario, l *errList) string {
	s.checkNode(l, e.Node, false)
	for _, m := range []*Match{e.Stdout, e.Stderr} {
		if m != nil && m.Regex.V != "" {
			if _, err := regexp.Compile(m.Regex.V); err != nil {
				l.add(m.Regex.Pos, "regex: %v", err)
			}
		}
	}
	name := "exec " + e.Node.V
	if e.Command != nil {
		name += ": " + e.Command.String()
	}
	return name
}

func (e *ExecStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	return r.exec(ctx, e, t.within, t.every)
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
	timeout := cmp.Or(e.Timeout.D, defaultExecTimeout)
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
