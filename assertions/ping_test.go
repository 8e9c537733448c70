package assertions_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

func TestPing(t *testing.T) {
	t.Parallel()
	n := chain(t)
	for _, to := range []string{"h2", "h2:eth0", "198.18.0.6", "fdf6:fd81:8f7e:1::2", "r1", "h1"} {
		passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, "h1", to) })
	}
	passes(t, func(f *fakeT) bool {
		return assertions.Ping(f, n, "h1", "h3", assertions.Count(3), assertions.Interval(10*time.Millisecond), assertions.IPv6())
	})
	passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, "r1:eth1", "h1") }) // from r1's address toward h2

	// h2's link down: both families fail, each on its own line, with the
	// route h1's kernel chose.
	require.NoError(t, link(t, n, "r1-h2").SetDown())
	msg := fails(t, func(f *fakeT) bool {
		return assertions.Ping(f, n, "h1", "h2", assertions.Timeout(300*time.Millisecond))
	})
	require.Equal(t, []string{
		"ping h1 -> h2 (198.18.0.6): 0/1 replies: destination unreachable (network unreachable) from 198.18.0.2; h1's kernel routes it: 198.18.0.6 via 198.18.0.2 dev eth0 src 198.18.0.1",
		"ping h1 -> h2 (fdf6:fd81:8f7e:1::2): 0/1 replies: destination unreachable (no route) from fdf6:fd81:8f7e::2; h1's kernel routes it: fdf6:fd81:8f7e:1::2 via fdf6:fd81:8f7e::2 dev eth0 src fdf6:fd81:8f7e::1",
	}, lines(msg))

	// A silent address on h1's subnet: no reply within the timeout.
	msg = fails(t, func(f *fakeT) bool {
		return assertions.Ping(f, n, "h1", silent, assertions.Count(2), assertions.Timeout(200*time.Millisecond))
	})
	require.Equal(t, "ping h1 -> 10.9.0.1: 0/2 replies within 200ms; h1's kernel routes it: 10.9.0.1 dev eth0 src 198.18.0.1", msg)

	// No route at all in the source.
	msg = fails(t, func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "192.0.2.1") })
	require.Equal(t, "ping h1 -> 192.0.2.1: 0/1 replies: network is unreachable (the kernel refused to send); h1's kernel has no route to it", msg)
}

func TestNoPing(t *testing.T) {
	t.Parallel()
	n := chain(t)
	passes(t, func(f *fakeT) bool { return assertions.NoPing(f, n, "h1", "192.0.2.1") })
	passes(t, func(f *fakeT) bool {
		return assertions.NoPing(f, n, "h1", silent, assertions.Timeout(200*time.Millisecond))
	})
	msg := fails(t, func(f *fakeT) bool {
		return assertions.NoPing(f, n, "h1", "h2", assertions.Count(2), assertions.IPv4())
	})
	require.Regexp(t, `^ping h1 -> h2 \(198\.18\.0\.6\): 2/2 replies, rtt min/avg/max [0-9.]+/[0-9.]+/[0-9.]+ ms, want none$`, msg)

	require.NoError(t, link(t, n, "r1-h2").SetDown())
	passes(t, func(f *fakeT) bool { return assertions.NoPing(f, n, "h1", "h2") })
	passes(t, func(f *fakeT) bool { return assertions.NoPing(f, n, "h2", "h1") })
}

// TestUnknownNames: a name the network does not have fails every check
// with the names it has.
func TestUnknownNames(t *testing.T) {
	t.Parallel()
	n := chain(t)
	nodes := regexp.QuoteMeta(`(it has h1, h2, h3, r1)`)
	for _, c := range []struct {
		check func(*fakeT) bool
		want  string
	}{
		{func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h9") }, `^ping h1 -> h9: nettest: chain has no node "h9" ` + nodes + `$`},
		{func(f *fakeT) bool { return assertions.NoPing(f, n, "h9", "h1") }, `^ping h9 -> h1: nettest: chain has no node "h9" `},
		{func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h2:eth7") }, `^ping h1 -> h2:eth7: nettest: node h2 has no interface "eth7" \(it has eth0\)$`},
		{func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "198.18.0.0/30") }, `^ping h1 -> 198.18.0.0/30: 198.18.0.0/30 is a prefix: want a node, node:iface or an address$`},
		{func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "r1-h2") }, `^ping h1 -> r1-h2: r1-h2 is a link: want a node, node:iface or an address$`},
		{func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "198.18.0.6", assertions.IPv6()) }, `198.18.0.6 is an IPv4 address, but the check asks for IPv6$`},
		{func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp", "nope", 80) }, `^dial tcp h1 -> nope port 80: nettest: chain has no node "nope" `},
		{func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "sctp", "h2", 80) }, `^dial sctp h1 -> h2 port 80: network "sctp": want tcp, tcp4, tcp6, udp, udp4 or udp6$`},
		{func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp4", "h2", 80, assertions.IPv6()) }, `network tcp4 is IPv4, but the check asks for IPv6$`},
		{func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp", "h2", 0) }, `port 0: want 1 to 65535$`},
		{func(f *fakeT) bool { return assertions.RouteVia(f, n, "r9", "h2", "r1") }, `^route to h2 on r9: nettest: chain has no node "r9" ` + nodes},
		{func(f *fakeT) bool { return assertions.RouteVia(f, n, "h1", "h2", "r7") }, `^route to h2 on h1: gateway r7: nettest: chain has no node "r7" `},
		{func(f *fakeT) bool { return assertions.RouteDev(f, n, "h1:eth0", "h2", "eth0") }, `^route to h2 on h1:eth0: "h1:eth0": want a node's name$`},
		{func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h1", "h2", "h1:eth5") }, `^route to h2 on h1: source h1:eth5: nettest: node h1 has no interface "eth5" \(it has eth0\)$`},
		{func(f *fakeT) bool { return assertions.NoRoute(f, n, "h1", "zz") }, `^route to zz on h1: nettest: chain has no node "zz" `},
		{func(f *fakeT) bool { return assertions.Reachable(f, n, []string{"h1", "h4"}) }, `^reachability of h1, h4: nettest: chain has no node "h4" ` + nodes + `$`},
		{func(f *fakeT) bool { return assertions.Reachable(f, n, []string{"h1"}) }, `^reachability of h1: want at least two nodes$`},
	} {
		require.Regexp(t, c.want, fails(t, c.check))
	}
}

// TestOptions: a bad value fails the check before it runs (no network
// needed). An option a check does not take does not compile: see
// TestOptionFamilies.
func TestOptions(t *testing.T) {
	t.Parallel()
	var n *nettest.Network
	for _, c := range []struct {
		check func(*fakeT) bool
		want  string
	}{
		{func(f *fakeT) bool { return assertions.Ping(f, n, "a", "b", assertions.Count(0)) }, "assertions.Ping: option Count(0): want at least 1 request"},
		{func(f *fakeT) bool { return assertions.Reachable(f, n, nil, assertions.Within(-time.Second)) }, "assertions.Reachable: option Within(-1s): want a positive duration"},
		{func(f *fakeT) bool { return assertions.NoPing(f, n, "a", "b", assertions.Every(0)) }, "assertions.NoPing: option Every(0s): want a positive duration"},
		{func(f *fakeT) bool { return assertions.RouteSrc(f, n, "a", "b", "c", assertions.IPv6()) }, "assertions.RouteSrc: the network is nil"},
	} {
		require.Equal(t, c.want, fails(t, c.check))
	}
}

// TestOptionFamilies: each option is of the families of the checks it
// applies to, and of no other, so that giving it to another check is a
// compile error (these were run-time failures: "assertions.Ping: option
// Refused() does not apply to it").
func TestOptionFamilies(t *testing.T) {
	t.Parallel()
	families := func(o any) string {
		var s []string
		for _, f := range []struct {
			name string
			ok   bool
		}{
			{"ping", is[assertions.PingOption](o)}, {"dial", is[assertions.DialOption](o)},
			{"nodial", is[assertions.NoDialOption](o)}, {"route", is[assertions.RouteOption](o)},
			{"packet", is[assertions.PacketOption](o)},
		} {
			if f.ok {
				s = append(s, f.name)
			}
		}
		return strings.Join(s, " ")
	}
	for want, opts := range map[string][]any{
		"ping":                          {assertions.Count(3), assertions.Interval(time.Second)},
		"nodial":                        {assertions.Refused(), assertions.TimedOut()},
		"ping dial nodial":              {assertions.Timeout(time.Second)},
		"ping dial nodial route packet": {assertions.IPv4(), assertions.IPv6(), assertions.Within(time.Second), assertions.Every(time.Second), assertions.Context(context.Background())},
	} {
		for _, o := range opts {
			require.Equal(t, want, families(o), "%T", o)
		}
	}
}

func is[T any](o any) bool { _, ok := o.(T); return ok }

// TestClosedNetwork: a check on a network that is closed fails, saying so.
func TestClosedNetwork(t *testing.T) {
	t.Parallel()
	n := chain(t)
	require.NoError(t, n.Close())
	for _, check := range []func(*fakeT) bool{
		func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h2") },
		func(f *fakeT) bool { return assertions.NoPing(f, n, "h1", "h2") },
		func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp", "h2", 80) },
		func(f *fakeT) bool { return assertions.RouteVia(f, n, "h1", "h2", "r1") },
		func(f *fakeT) bool { return assertions.RouteSrc(f, n, "h1", "h2", "h1") },
		func(f *fakeT) bool { return assertions.NoRoute(f, n, "h1", "192.0.2.1") },
		func(f *fakeT) bool { return assertions.Reachable(f, n, nil) },
	} {
		require.Contains(t, fails(t, check), "the network is closed")
	}
}
