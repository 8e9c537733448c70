package assertions

import (
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
// message; empty when it passed.
func run(c config, attempt try) string {
	start := time.Now()
	for {
		fs, err := attempt()
		if err != nil {
			return err.Error()
		}
		var failed []string
		for _, f := range fs {
			if !f.ok {
				failed = append(failed, f.message(c.within))
			}
		}
		if len(failed) == 0 {
			return ""
		}
		left := c.within - time.Since(start)
		if left <= 0 {
			return strings.Join(failed, "\n")
		}
		time.Sleep(min(c.every, left)) // the last try starts when the time is up
	}
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
func check(t TestingT, k kind, name string, n *nettest.Network, opts []Option, prepare func(config) (try, error)) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	c, err := newConfig(k, name, opts)
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
