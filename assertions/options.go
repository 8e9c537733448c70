package assertions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// Option adjusts a check. Each applies to the checks its documentation
// names; given to another check, it fails that check rather than be
// silently ignored.
type Option struct {
	name  string
	kinds kind
	set   func(*config) error
}

// kind is a set of checks an option applies to.
type kind uint

const (
	kindPing      kind = 1 << iota // Ping, NoPing
	kindReachable                  // Reachable
	kindDial                       // CanDial
	kindNoDial                     // CannotDial
	kindRoute                      // RouteVia, RouteDev, RouteSrc, NoRoute
	kindCapture                    // SawPacket, NoPacket

	kindPings = kindPing | kindReachable
	kindAll   = kindPings | kindDial | kindNoDial | kindRoute | kindCapture
)

// Defaults.
const (
	defaultTimeout = time.Second
	defaultEvery   = 100 * time.Millisecond
)

// config is a check's settings.
type config struct {
	count    int
	interval time.Duration
	timeout  time.Duration
	families []nettest.Family // empty: those of the target
	within   time.Duration
	every    time.Duration
	refused  bool
	timedOut bool
	ctx      context.Context // never nil
}

// newConfig applies opts for a check of kind k named name.
func newConfig(k kind, name string, opts []Option) (config, error) {
	c := config{count: 1, timeout: defaultTimeout, every: defaultEvery, ctx: context.Background()}
	for _, o := range opts {
		if o.set == nil {
			continue
		}
		if o.kinds&k == 0 {
			return c, fmt.Errorf("assertions.%s: option %s does not apply to it (it is for %s)", name, o.name, kindNames(o.kinds))
		}
		if err := o.set(&c); err != nil {
			return c, fmt.Errorf("assertions.%s: option %s: %v", name, o.name, err)
		}
	}
	return c, nil
}

func kindNames(k kind) string {
	var names []string
	for _, kn := range []struct {
		k    kind
		name string
	}{
		{kindPing, "Ping, NoPing"}, {kindReachable, "Reachable"}, {kindDial, "CanDial"},
		{kindNoDial, "CannotDial"}, {kindRoute, "RouteVia, RouteDev, RouteSrc, NoRoute"},
		{kindCapture, "SawPacket, NoPacket"},
	} {
		if k&kn.k != 0 {
			names = append(names, kn.name)
		}
	}
	return strings.Join(names, ", ")
}

// durationOption sets the duration field returns, which must be positive.
func durationOption(name string, d time.Duration, kinds kind, field func(*config) *time.Duration) Option {
	return Option{name: fmt.Sprintf("%s(%v)", name, d), kinds: kinds, set: func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("want a positive duration")
		}
		*field(c) = d
		return nil
	}}
}

// Count sets how many echo requests a ping sends (Ping, NoPing, Reachable);
// 1 by default. Ping passes when every one is answered, NoPing when none is.
func Count(n int) Option {
	return Option{name: fmt.Sprintf("Count(%d)", n), kinds: kindPings, set: func(c *config) error {
		if n < 1 {
			return fmt.Errorf("want at least 1 request")
		}
		c.count = n
		return nil
	}}
}

// Interval sets the time between a ping's echo requests (Ping, NoPing,
// Reachable); 100ms by default.
func Interval(d time.Duration) Option {
	return durationOption("Interval", d, kindPings, func(c *config) *time.Duration { return &c.interval })
}

// Timeout sets how long a ping waits for each reply and a dial for its
// connection or answer (Ping, NoPing, Reachable, CanDial, CannotDial); 1s
// by default.
func Timeout(d time.Duration) Option {
	return durationOption("Timeout", d, kindPings|kindDial|kindNoDial, func(c *config) *time.Duration { return &c.timeout })
}

// IPv4 restricts a check to IPv4 addresses (every check). Without IPv4 or
// IPv6, a check covers every family its target has.
func IPv4() Option { return family(nettest.IPv4) }

// IPv6 restricts a check to IPv6 addresses (every check). Given with IPv4,
// the check covers both.
func IPv6() Option { return family(nettest.IPv6) }

func family(f nettest.Family) Option {
	return Option{name: f.String() + "()", kinds: kindAll, set: func(c *config) error {
		if !slices.Contains(c.families, f) {
			c.families = append(c.families, f)
			slices.Sort(c.families)
		}
		return nil
	}}
}

// Within makes a check an eventual one (every check): it is tried again,
// every [Every], until it passes or d has passed since the first try; the
// last try starts when d is up (and may take its own [Timeout]). Its
// failure then says what the last try saw: "still ... after d".
func Within(d time.Duration) Option {
	return durationOption("Within", d, kindAll, func(c *config) *time.Duration { return &c.within })
}

// Every sets the time between two tries of a check with [Within]; 100ms by
// default (every check).
func Every(d time.Duration) Option {
	return durationOption("Every", d, kindAll, func(c *config) *time.Duration { return &c.every })
}

// Refused makes CannotDial pass only when the connection is refused: a TCP
// reset, or for UDP an ICMP port unreachable. Without Refused or TimedOut,
// CannotDial passes on any failure to connect.
func Refused() Option {
	return Option{name: "Refused()", kinds: kindNoDial, set: func(c *config) error {
		c.refused = true
		return nil
	}}
}

// TimedOut makes CannotDial pass only when the dial times out: no answer at
// all within the timeout (a dropping firewall, a silent UDP port). Given
// with Refused, either passes.
func TimedOut() Option {
	return Option{name: "TimedOut()", kinds: kindNoDial, set: func(c *config) error {
		c.timedOut = true
		return nil
	}}
}

// Context makes a check stop when ctx ends (every check): the ping or dial
// under way, and with [Within] the wait between tries. A check stopped so
// fails, saying why (context.Cause of ctx) and what its last complete try
// saw; it never passes on a try that ctx cut short.
func Context(ctx context.Context) Option {
	return Option{name: "Context", kinds: kindAll, set: func(c *config) error {
		if ctx == nil {
			return errors.New("want a context, got nil")
		}
		c.ctx = ctx
		return nil
	}}
}
