package assertions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// Each check takes the options of its family, a type of its own, so that
// an option given to a check it does not apply to is a compile error:
//
//	PingOption    Ping, NoPing, Reachable
//	DialOption    CanDial
//	NoDialOption  NoDial
//	RouteOption   RouteVia, RouteDev, RouteSrc, NoRoute
//	PacketOption  SawPacket, NoPacket
//	ConvergeOption Converged
//
// [Option] (IPv4, IPv6, Within, Every, Context) is of every family,
// [TimeoutOption] (Timeout) of the ping and dial ones. A bad value (Count(0),
// Within(-time.Second)) fails the check that is given it, before it runs.

// PingOption adjusts Ping, NoPing and Reachable: [Count], [Interval],
// [Timeout] and every [Option].
type PingOption interface{ pingOption() option }

// DialOption adjusts CanDial: [Timeout] and every [Option].
type DialOption interface{ dialOption() option }

// NoDialOption adjusts NoDial: [Refused], [TimedOut], [Timeout] and every
// [Option].
type NoDialOption interface{ noDialOption() option }

// RouteOption adjusts RouteVia, RouteDev, RouteSrc and NoRoute: every
// [Option].
type RouteOption interface{ routeOption() option }

// PacketOption adjusts SawPacket and NoPacket: every [Option].
type PacketOption interface{ packetOption() option }

// ConvergeOption adjusts Converged: [Settle] and every [Option].
type ConvergeOption interface{ convergeOption() option }

// TimeoutOption adjusts the ping and dial checks.
type TimeoutOption interface {
	PingOption
	DialOption
	NoDialOption
}

// Option adjusts every check.
type Option interface {
	PingOption
	DialOption
	NoDialOption
	RouteOption
	PacketOption
	ConvergeOption
}

// option is what every option is: a named change to a check's config,
// which may refuse its value.
type option struct {
	name string
	set  func(*config) error
}

// The concrete options, one type per set of families they belong to.
type (
	pingOpt    struct{ o option }
	noDialOpt  struct{ o option }
	timeoutOpt struct{ o option }
	anyOpt     struct{ o option }
	settleOpt  struct{ o option }
)

func (p pingOpt) pingOption() option       { return p.o }
func (p noDialOpt) noDialOption() option   { return p.o }
func (p timeoutOpt) pingOption() option    { return p.o }
func (p timeoutOpt) dialOption() option    { return p.o }
func (p timeoutOpt) noDialOption() option  { return p.o }
func (p anyOpt) pingOption() option        { return p.o }
func (p anyOpt) dialOption() option        { return p.o }
func (p anyOpt) noDialOption() option      { return p.o }
func (p anyOpt) routeOption() option       { return p.o }
func (p anyOpt) packetOption() option      { return p.o }
func (p anyOpt) convergeOption() option    { return p.o }
func (p settleOpt) convergeOption() option { return p.o }

// options unwraps the options of one family, given as a method
// expression: options(opts, PingOption.pingOption).
func options[O any](opts []O, get func(O) option) []option {
	out := make([]option, 0, len(opts))
	for _, o := range opts {
		if any(o) != nil {
			out = append(out, get(o))
		}
	}
	return out
}

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
	settle   time.Duration
	refused  bool
	timedOut bool
	ctx      context.Context // never nil
}

// newConfig applies opts for the check named name.
func newConfig(name string, opts []option) (config, error) {
	c := config{count: 1, timeout: defaultTimeout, every: defaultEvery, ctx: context.Background()}
	for _, o := range opts {
		if o.set == nil {
			continue
		}
		if err := o.set(&c); err != nil {
			return c, fmt.Errorf("assertions.%s: option %s: %v", name, o.name, err)
		}
	}
	return c, nil
}

// durationOption sets the duration field returns, which must be positive.
func durationOption(name string, d time.Duration, field func(*config) *time.Duration) option {
	return option{name: fmt.Sprintf("%s(%v)", name, d), set: func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("want a positive duration")
		}
		*field(c) = d
		return nil
	}}
}

// Count sets how many echo requests a ping sends (Ping, NoPing, Reachable);
// 1 by default. Ping passes when every one is answered, NoPing when none is.
func Count(n int) PingOption {
	return pingOpt{option{name: fmt.Sprintf("Count(%d)", n), set: func(c *config) error {
		if n < 1 {
			return fmt.Errorf("want at least 1 request")
		}
		c.count = n
		return nil
	}}}
}

// Interval sets the time between a ping's echo requests (Ping, NoPing,
// Reachable); 100ms by default.
func Interval(d time.Duration) PingOption {
	return pingOpt{durationOption("Interval", d, func(c *config) *time.Duration { return &c.interval })}
}

// Timeout sets how long a ping waits for each reply and a dial for its
// connection or answer (Ping, NoPing, Reachable, CanDial, NoDial); 1s by
// default.
func Timeout(d time.Duration) TimeoutOption {
	return timeoutOpt{durationOption("Timeout", d, func(c *config) *time.Duration { return &c.timeout })}
}

// IPv4 restricts a check to IPv4 addresses (every check). Without IPv4 or
// IPv6, a check covers every family its target has.
func IPv4() Option { return family(nettest.IPv4) }

// IPv6 restricts a check to IPv6 addresses (every check). Given with IPv4,
// the check covers both.
func IPv6() Option { return family(nettest.IPv6) }

func family(f nettest.Family) Option {
	return anyOpt{option{name: f.String() + "()", set: func(c *config) error {
		if !slices.Contains(c.families, f) {
			c.families = append(c.families, f)
			slices.Sort(c.families)
		}
		return nil
	}}}
}

// Within makes a check an eventual one (every check): it is tried again,
// every [Every], until it passes or d has passed since the first try; the
// last try starts when d is up (and may take its own [Timeout]). Its
// failure then says what the last try saw: "still ... after d".
func Within(d time.Duration) Option {
	return anyOpt{durationOption("Within", d, func(c *config) *time.Duration { return &c.within })}
}

// Every sets the time between two tries of a check with [Within]; 100ms by
// default (every check).
func Every(d time.Duration) Option {
	return anyOpt{durationOption("Every", d, func(c *config) *time.Duration { return &c.every })}
}

// Settle sets how long every node's routing table must stay the same for
// Converged to call the network converged; 3s by default.
func Settle(d time.Duration) ConvergeOption {
	return settleOpt{durationOption("Settle", d, func(c *config) *time.Duration { return &c.settle })}
}

// Refused makes NoDial pass only when the connection is refused: a TCP
// reset, or for UDP an ICMP port unreachable. Without Refused or TimedOut,
// NoDial passes on any failure to connect.
func Refused() NoDialOption {
	return noDialOpt{option{name: "Refused()", set: func(c *config) error {
		c.refused = true
		return nil
	}}}
}

// TimedOut makes NoDial pass only when the dial times out: no answer at
// all within the timeout (a dropping firewall, a silent UDP port). Given
// with Refused, either passes.
func TimedOut() NoDialOption {
	return noDialOpt{option{name: "TimedOut()", set: func(c *config) error {
		c.timedOut = true
		return nil
	}}}
}

// Context makes a check stop when ctx ends (every check): the ping or dial
// under way, and with [Within] the wait between tries. A check stopped so
// fails, saying why (context.Cause of ctx) and what its last complete try
// saw; it never passes on a try that ctx cut short.
func Context(ctx context.Context) Option {
	return anyOpt{option{name: "Context", set: func(c *config) error {
		if ctx == nil {
			return errors.New("want a context, got nil")
		}
		c.ctx = ctx
		return nil
	}}}
}
