package assertions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// TestLoopbackTargets: "r2:lo" names a node's loopback as a check's
// target, source (its address the source address) and gateway's node.
func TestLoopbackTargets(t *testing.T) {
	t.Parallel()
	// Routes by hand: r1 knows no way to r2's loopback, so only what
	// comes from r2's link address gets an answer from h1.
	n := build(t, nettest.NewBuilder("lo").Host("h1").Router("r1", "r2").
		Auto(nettest.Auto{IPv4: true, IPv6: true}).
		Chain("h1", "r1", "r2").
		Loopback("r2", "10.255.0.2", "fd00:255::2").
		Route("h1", "default via r1").Route("r2", "default via r1"))
	passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, "r2", "r2:lo") })
	passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, "r2", "h1") })
	msg := fails(t, func(f *fakeT) bool {
		return assertions.Ping(f, n, "r2:lo", "h1", assertions.IPv4(), assertions.Timeout(200*time.Millisecond))
	})
	require.Contains(t, msg, "ping r2:lo -> h1 (198.18.0.1): 0/1 replies")
	msg = fails(t, func(f *fakeT) bool {
		return assertions.Ping(f, n, "h1", "r2:lo", assertions.IPv6(), assertions.Timeout(200*time.Millisecond))
	})
	require.Contains(t, msg, "ping h1 -> r2:lo (fd00:255::2): 0/1 replies")

	// Automatic routes reach every loopback.
	n = build(t, nettest.NewBuilder("lo2").Host("h1").Router("r1", "r2").Chain("h1", "r1", "r2").Loopbacks())
	for _, pair := range [][2]string{{"h1", "r2:lo"}, {"r2:lo", "h1"}, {"r1:lo", "r2:lo"}} {
		passes(t, func(f *fakeT) bool { return assertions.Ping(f, n, pair[0], pair[1]) })
	}
	passes(t, func(f *fakeT) bool { return assertions.RouteVia(f, n, "h1", "r2:lo", "r1") })
	msg = fails(t, func(f *fakeT) bool { return assertions.Ping(f, n, "h1", "h1:lo") })
	require.Contains(t, msg, "node h1 has no loopback address")
}
