package assertions_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

func TestReachable(t *testing.T) {
	t.Parallel()
	n := chain(t)
	passes(t, func(f *fakeT) bool { return assertions.Reachable(f, n, nil) })
	passes(t, func(f *fakeT) bool {
		return assertions.Reachable(f, n, []string{"h1", "h2"}, assertions.IPv6(), assertions.Count(2))
	})

	require.NoError(t, link(t, n, "r1-h3").SetDown())
	msg := fails(t, func(f *fakeT) bool {
		return assertions.Reachable(f, n, []string{"h1", "h2", "h3"}, assertions.Timeout(300*time.Millisecond))
	})
	ls := lines(msg)
	require.Equal(t, []string{
		"reachability of h1, h2, h3: 8/12 pings failed:",
		"  from\\to  h1     h2     h3",
		"  h1       -      ok/ok  X/X",
		"  h2       ok/ok  -      X/X",
		"  h3       X/X    X/X    -",
		"  (each cell: IPv4/IPv6; X: no reply, n/a: no address of that family)",
	}, ls[:6])
	require.Len(t, ls, 6+8, "one line per failed ping")
	require.Equal(t, "ping h1 -> h3 (198.18.0.10): 0/1 replies: destination unreachable (network unreachable) from 198.18.0.2; "+
		"h1's kernel routes it: 198.18.0.10 via 198.18.0.2 dev eth0 src 198.18.0.1", ls[6])
	require.Equal(t, "ping h3 -> h1 (198.18.0.1): 0/1 replies: network is unreachable (the kernel refused to send); h3's kernel has no route to it", ls[10])

	bare := build(t, nettest.NewBuilder("bare").Auto(nettest.Auto{}).Host("a", "b").Link("a", "b"))
	msg = fails(t, func(f *fakeT) bool { return assertions.Reachable(f, bare, nil) })
	require.Equal(t, "reachability of a, b: no node has an address to ping", msg)

	msg = fails(t, func(f *fakeT) bool { return assertions.Reachable(f, n, []string{"h3", "r1"}, assertions.IPv4()) })
	require.Equal(t, []string{
		"reachability of h3, r1: 2/2 pings failed:",
		"  from\\to  h3  r1",
		"  h3       -   X",
		"  r1       X   -",
		"  (X: no reply)",
	}, lines(msg)[:5])
}

// TestPingAll: the matrix comes back whether or not a ping failed, with
// the counts and a line per failed ping.
func TestPingAll(t *testing.T) {
	t.Parallel()
	n := chain(t)
	r, err := assertions.PingAll(context.Background(), n, []string{"h1", "h2", "h3"}, assertions.IPv4())
	require.NoError(t, err)
	require.Equal(t, 0, r.Failed)
	require.Equal(t, 6, r.Total)
	require.Empty(t, r.Failures)
	require.Equal(t, "  from\\to  h1  h2  h3\n  h1       -   ok  ok\n  h2       ok  -   ok\n  h3       ok  ok  -\n  (X: no reply)", r.Matrix)

	require.NoError(t, link(t, n, "r1-h3").SetDown())
	r, err = assertions.PingAll(context.Background(), n, []string{"h1", "h2", "h3"}, assertions.IPv4(), assertions.Timeout(300*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 4, r.Failed)
	require.Len(t, r.Failures, 4)
	require.Contains(t, r.Matrix, "  h1       -   ok  X\n")

	_, err = assertions.PingAll(context.Background(), n, []string{"h1", "nosuch"})
	require.ErrorContains(t, err, "nosuch")
}
