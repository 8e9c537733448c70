package assertions_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
)

// TestEventually: checks that pass once a condition comes true during
// their time.
func TestEventually(t *testing.T) {
	t.Parallel()
	n := chain(t)
	l := link(t, n, "r1-h2")
	require.NoError(t, l.SetDown())
	upLater := func() {
		go func() {
			time.Sleep(300 * time.Millisecond)
			l.SetUp(t.Context())
		}()
	}
	within := assertions.Within(5 * time.Second)
	quick := assertions.Timeout(300 * time.Millisecond) // the ICMP rate limit may silence r1's errors

	upLater()
	start := time.Now()
	passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h2", within, quick) })
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	require.NoError(t, l.SetDown())
	upLater()
	passes(t, func(f *fakeT) bool { return assertions.RouteDev(f, n, "r1", "h2", "eth1", within) })
	require.NoError(t, l.SetDown())
	upLater()
	passes(t, func(f *fakeT) bool {
		return assertions.Reachable(f, n, nil, within, quick, assertions.Every(50*time.Millisecond))
	})

	go func() {
		time.Sleep(300 * time.Millisecond)
		l.SetDown()
	}()
	passes(t, func(f *fakeT) bool { return assertions.NoRoute(f, n, "r1", "h2:eth0", within) })
	passes(t, func(f *fakeT) bool { return assertions.NoPing(f, n, "h1", "h2", within, quick) })

}

// TestEventuallyFails: checks that never pass within the time report what
// their last try saw, "still ... after ...".
func TestEventuallyFails(t *testing.T) {
	t.Parallel()
	n := chain(t)
	require.NoError(t, link(t, n, "r1-h2").SetDown())
	short := assertions.Within(300 * time.Millisecond)
	quick := assertions.Timeout(200 * time.Millisecond)
	exactly := regexp.QuoteMeta
	for _, c := range []struct {
		name  string
		check func(*fakeT) bool
		want  string // a regular expression
	}{
		// r1 answers with an ICMP error, or not when the kernel's ICMP rate
		// limit holds it back.
		{"Ping", func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h2", short, assertions.IPv4(), quick) },
			`^ping h1 -> h2 \(198\.18\.0\.6\): still 0/1 replies(: destination unreachable \(network unreachable\) from 198\.18\.0\.2| within 200ms) after 300ms; ` +
				`h1's kernel routes it: 198\.18\.0\.6 via 198\.18\.0\.2 dev eth0 src 198\.18\.0\.1$`},
		{"NoPing", func(f *fakeT) bool { return assertions.NoPing(f, n, "h1", "h3", short, assertions.IPv4()) },
			`^ping h1 -> h3 \(198\.18\.0\.10\): still 1/1 replies, rtt min/avg/max \S+ ms after 300ms, want none$`},
		{"RouteVia", func(f *fakeT) bool { return assertions.RouteVia(f, n, "h1", "198.18.0.4/30", "h3", short) },
			exactly("route to 198.18.0.4/30 on h1: still via 198.18.0.2 after 300ms, want via h3 (198.18.0.10) (h1's route: 198.18.0.4/30 via 198.18.0.2 dev eth0 metric 1024)")},
		{"RouteDev", func(f *fakeT) bool { return assertions.RouteDev(f, n, "r1", "h2", "eth1", short, assertions.IPv6()) },
			exactly("route to h2 (fdf6:fd81:8f7e:1::2) on r1: still no route after 300ms, want dev eth1")},
		{"RouteSrc", func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h1", "h3", "r1", short, assertions.IPv6()) },
			exactly("route to h3 (fdf6:fd81:8f7e:2::2) on h1: still src fdf6:fd81:8f7e::1 after 300ms, " +
				"want src r1 (fdf6:fd81:8f7e::2 or fdf6:fd81:8f7e:1::1 or fdf6:fd81:8f7e:2::1) " +
				"(h1's route: fdf6:fd81:8f7e:2::2 via fdf6:fd81:8f7e::2 dev eth0 src fdf6:fd81:8f7e::1)")},
		{"NoRoute", func(f *fakeT) bool { return assertions.NoRoute(f, n, "h1", "h3", short, assertions.IPv4()) },
			exactly("route to h3 (198.18.0.10) on h1: still a route after 300ms, want no route (h1's route: 198.18.0.8/30 via 198.18.0.2 dev eth0 metric 1024)")},
		{"CanDial", func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp4", "h2", 80, short, quick) },
			`^dial tcp4 h1 -> h2 \(198\.18\.0\.6:80\): still (unreachable \(network is unreachable\)|timed out after 200ms) after 300ms, want connected; ` +
				`h1's kernel routes it: 198\.18\.0\.6 via 198\.18\.0\.2 dev eth0 src 198\.18\.0\.1$`},
		{"NoDial", func(f *fakeT) bool {
			return assertions.NoDial(f, n, "h1", "tcp4", "h3", 80, short, assertions.TimedOut())
		},
			exactly("dial tcp4 h1 -> h3 (198.18.0.10:80): still refused after 300ms, want timed out")},
		{"Reachable", func(f *fakeT) bool {
			return assertions.Reachable(f, n, []string{"h1", "h2"}, short, assertions.IPv4(), quick)
		},
			`^reachability of h1, h2: still 2/2 pings failed after 300ms:\n`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			require.Regexp(t, c.want, fails(t, c.check))
			require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "tried until the time was up")
			require.Less(t, time.Since(start), time.Second)
		})
	}
}

// TestContextStops: a check given Context stops when the context ends,
// mid-wait and mid-ping, fails saying why and what its last try saw, and
// never passes on a try the context cut short.
func TestContextStops(t *testing.T) {
	t.Parallel()
	n := chain(t)
	require.NoError(t, link(t, n, "r1-h2").SetDown())
	interrupted := errors.New("interrupted by the test")
	long := assertions.Within(20 * time.Second)
	slow := assertions.Timeout(10 * time.Second)
	for _, c := range []struct {
		name  string
		check func(*fakeT, assertions.Option) bool
		want  string // a regular expression
		ended bool   // the context has ended before the check starts
	}{
		{"Ping", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.Ping(f, n, "h1", "h2", long, slow, assertions.IPv4(), ctx)
		}, `^check stopped after \S+: interrupted by the test(;|$)`, false},
		{"PingWaiting", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.Ping(f, n, "h1", "h2", long, assertions.Timeout(50*time.Millisecond), assertions.Every(time.Minute), assertions.IPv4(), ctx)
		}, `^check stopped after \S+: interrupted by the test; the last complete try saw: ping h1 -> h2 \(198\.18\.0\.6\): 0/1 replies`, false},
		{"CanDial", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.CanDial(f, n, "h1", "tcp4", "h2", 80, long, slow, ctx)
		}, `^check stopped after \S+: interrupted by the test`, false},
		{"RouteVia", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.RouteVia(f, n, "h1", "198.18.0.4/30", "h3", long, ctx)
		}, `^check stopped after \S+: interrupted by the test; the last complete try saw: route to 198\.18\.0\.4/30 on h1: via 198\.18\.0\.2, want via h3`, false},
		// A cut-short try of these would look like a pass (and h2 is
		// unreachable: a full one passes).
		{"NoPing", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.NoPing(f, n, "h1", "h2", slow, assertions.IPv4(), ctx)
		}, `^check stopped after \S+: interrupted by the test$`, true},
		{"NoDial", func(f *fakeT, ctx assertions.Option) bool {
			return assertions.NoDial(f, n, "h1", "tcp4", "h2", 80, slow, assertions.TimedOut(), ctx)
		}, `^check stopped after \S+: interrupted by the test$`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(t.Context())
			if c.ended {
				cancel(interrupted)
			}
			time.AfterFunc(300*time.Millisecond, func() { cancel(interrupted) })
			start := time.Now()
			require.Regexp(t, c.want, fails(t, func(f *fakeT) bool { return c.check(f, assertions.Context(ctx)) }))
			require.Less(t, time.Since(start), time.Second, "stopped at once")
		})
	}
	var nilCtx context.Context
	require.Contains(t, fails(t, func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h2", assertions.Context(nilCtx)) }),
		"option Context: want a context, got nil")
}
