package assertions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// TestingT is what the checks report to: *testing.T, *testing.B, or any
// value with testify's assert.TestingT shape. When it also has a Helper
// method (as testing.TB does), the checks call it.
type TestingT interface {
	Errorf(format string, args ...any)
}

type helperT interface{ Helper() }

// finding is what one part of a check (one family, one pair) saw.
type finding struct {
	ok      bool
	subject string // "ping h1 -> h2 (198.18.0.14)"
	seen    string // "0/3 replies within 1s"
	want    string // "none"; empty when the subject says it
	note    string // appended as is: "; h1's kernel routes it: ..."
}

// message says what failed. A check made with Within says "still ... after".
func (f finding) message(within time.Duration) string {
	var b strings.Builder
	b.WriteString(f.subject + ": ")
	if within > 0 {
		b.WriteString("still " + f.seen + " after " + within.String())
	} else {
		b.WriteString(f.seen)
	}
	if f.want != "" {
		b.WriteString(", want " + f.want)
	}
	b.WriteString(f.note)
	return b.String()
}

// try is one attempt of a check. An error means the check cannot be made
// at all (an unknown node, a closed network): it fails without retrying.
type try func() ([]finding, error)

// run makes the check, and with Within again every Every until it passes
// or the time is up (the last try starts then), and returns the failure
// message; empty when it passed. When the config's context ends, it stops
// at once and says so, with what the last complete try saw.
func run(c config, attempt try) string {
	start := time.Now()
	var last []string // what the last complete try saw failing
	for {
		fs, err := attempt()
		if c.ctx.Err() != nil {
			return stopped(c, start, last)
		}
		if err != nil {
			return err.Error()
		}
		var failed, seen []string
		for _, f := range fs {
			if !f.ok {
				failed = append(failed, f.message(c.within))
				seen = append(seen, f.message(0))
			}
		}
		if len(failed) == 0 {
			return ""
		}
		left := c.within - time.Since(start)
		if left <= 0 {
			return strings.Join(failed, "\n")
		}
		last = seen
		// The last try starts when the time is up.
		t := time.NewTimer(min(c.every, left))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return stopped(c, start, last)
		}
	}
}

// stopped says that a check's context ended before it passed.
func stopped(c config, start time.Time, last []string) string {
	msg := fmt.Sprintf("check stopped after %v: %v", time.Since(start).Round(time.Millisecond), context.Cause(c.ctx))
	if len(last) > 0 {
		msg += "; the last complete try saw: " + strings.Join(last, "\n")
	}
	return msg
}

// report reports a failure message, if any, and says whether there was none.
func report(t TestingT, msg string) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	if msg == "" {
		return true
	}
	t.Errorf("%s", msg)
	return false
}

// check is what every exported check does: options, then run, then report.
func check(t TestingT, name string, n *nettest.Network, opts []option, prepare func(config) (try, error)) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	c, err := newConfig(name, opts)
	if err != nil {
		return report(t, err.Error())
	}
	if n == nil {
		return report(t, "assertions."+name+": the network is nil")
	}
	attempt, err := prepare(c)
	if err != nil {
		return report(t, err.Error())
	}
	return report(t, run(c, attempt))
}
