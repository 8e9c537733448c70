package nettest_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// routedTopology is h1 - r1 - h2 with user addresses (IPv4 and IPv6): hosts
// route everything through r1, which knows only the two subnets.
func routedTopology(t testing.TB) *nettest.Network {
	b := nettest.NewBuilder("routed").Auto(nettest.Auto{}).
		Host("h1", "h2").Router("r1").
		Link("h1:eth0=10.0.1.1/24,fd00:1::1/64", "r1:eth0=10.0.1.2/24,fd00:1::2/64").
		Link("r1:eth1=10.0.2.1/24,fd00:2::1/64", "h2:eth0=10.0.2.2/24,fd00:2::2/64").
		Route("h1", "default via 10.0.1.2", "default via fd00:1::2").
		Route("h2", "default via 10.0.2.1", "default via fd00:2::1")
	return build(t, mustTopology(t, b))
}

// TestPing: every request answered, v4 and v6, with RTTs.
func TestPing(t *testing.T) {
	n := routedTopology(t)
	h1 := node(t, n, "h1")
	for _, dst := range []string{"10.0.2.2", "fd00:2::2", "127.0.0.1", "::1", "10.0.1.1"} {
		res, err := h1.Ping(context.Background(), netip.MustParseAddr(dst), nettest.PingCount(3), nettest.PingInterval(10*time.Millisecond))
		require.NoError(t, err, dst)
		require.Equal(t, 3, res.Sent, dst)
		require.Equal(t, 3, res.Received, dst)
		require.Len(t, res.RTTs, 3, dst)
		require.Empty(t, res.Unreachable)
		require.Positive(t, res.Min())
		require.LessOrEqual(t, res.Min(), res.Avg())
		require.LessOrEqual(t, res.Avg(), res.Max())
		require.Regexp(t, `^3/3 replies, rtt min/avg/max \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$`, res.String())
	}
}

// TestPingNoReply: a silent destination on a connected subnet (no one
// answers ARP) times out: ErrNoReply, not ErrUnreachable.
func TestPingNoReply(t *testing.T) {
	n := routedTopology(t)
	start := time.Now()
	res, err := node(t, n, "h1").Ping(context.Background(), netip.MustParseAddr("10.0.1.99"), nettest.PingCount(2), nettest.PingInterval(50*time.Millisecond), nettest.PingTimeout(200*time.Millisecond))
	require.ErrorIs(t, err, nettest.ErrNoReply)
	require.NotErrorIs(t, err, nettest.ErrUnreachable)
	require.EqualError(t, err, "nettest: node h1: ping 10.0.1.99: 0/2 replies within 200ms")
	require.Equal(t, "0/2 replies within 200ms", res.String())
	require.Less(t, time.Since(start), time.Second)
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
}

// TestPingUnreachable: no route in the source fails at once; a router
// without a route answers with an ICMP error, which the ping reports.
func TestPingUnreachable(t *testing.T) {
	n := build(t, seedTopology()) // no default route
	start := time.Now()
	res, err := node(t, n, "red").Ping(context.Background(), netip.MustParseAddr("198.18.255.254"), nettest.PingCount(3))
	require.ErrorIs(t, err, nettest.ErrUnreachable)
	require.ErrorIs(t, err, nettest.ErrNoReply)
	require.Equal(t, "0/1 replies: network is unreachable (the kernel refused to send)", res.String())
	require.Less(t, time.Since(start), 100*time.Millisecond)

	n = routedTopology(t)
	h1 := node(t, n, "h1")
	for dst, want := range map[string]string{
		"198.18.255.254":         "0/1 replies: destination unreachable (network unreachable) from 10.0.1.2",
		"fdf6:fd81:8f7e:ffff::1": "0/1 replies: destination unreachable (no route) from fd00:1::2",
	} {
		start := time.Now()
		res, err := h1.Ping(context.Background(), netip.MustParseAddr(dst), nettest.PingCount(3), nettest.PingInterval(300*time.Millisecond))
		require.ErrorIs(t, err, nettest.ErrUnreachable, dst)
		require.Equal(t, want, res.String())
		require.Less(t, time.Since(start), 250*time.Millisecond, "stops at the first ICMP error")
	}
}

// TestPingConcurrent: pings from one node at once, half to a live address
// and half to a silent one, each sees only its own replies.
func TestPingConcurrent(t *testing.T) {
	n := routedTopology(t)
	h1 := node(t, n, "h1")
	var wg sync.WaitGroup
	results := make([]nettest.PingResult, 16)
	for i := range results {
		dst := netip.MustParseAddr("10.0.2.2")
		if i%2 == 1 {
			dst = netip.MustParseAddr("10.0.1.99")
		}
		wg.Go(func() {
			results[i], _ = h1.Ping(context.Background(), dst, nettest.PingCount(5), nettest.PingInterval(5*time.Millisecond), nettest.PingTimeout(500*time.Millisecond))
		})
	}
	wg.Wait()
	for i, res := range results {
		want := 5
		if i%2 == 1 {
			want = 0
		}
		require.Equal(t, 5, res.Sent, "ping %d", i)
		require.Equal(t, want, res.Received, "ping %d to %s", i, res.Dst)
	}
}

// TestPingContext: a cancelled context ends the wait.
func TestPingContext(t *testing.T) {
	n := routedTopology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := node(t, n, "h1").Ping(ctx, netip.MustParseAddr("10.0.1.99"), nettest.PingTimeout(10*time.Second))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, nettest.ErrNoReply)
	require.Less(t, time.Since(start), time.Second)
}

// TestPingSourceAndZone: a source address (ping -I), a link-local
// destination with its zone named as in the node, and the errors.
func TestPingSourceAndZone(t *testing.T) {
	n := routedTopology(t)
	h1, r1 := node(t, n, "h1"), node(t, n, "r1")
	res, err := r1.Ping(context.Background(), netip.MustParseAddr("10.0.1.1"), nettest.PingSrc(netip.MustParseAddr("10.0.2.1")))
	require.NoError(t, err)
	require.Equal(t, 1, res.Received)

	// The kernel derives the link-local address from the MAC (EUI-64).
	eth0, err := r1.Interface("eth0")
	require.NoError(t, err)
	mac := eth0.MAC()
	ll := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
	_, err = h1.Ping(context.Background(), ll.WithZone("eth0"))
	require.NoError(t, err)

	_, err = h1.Ping(context.Background(), ll.WithZone("nope"))
	require.ErrorContains(t, err, `zone "nope": no such interface in node h1`)
	_, err = h1.Ping(context.Background(), netip.MustParseAddr("10.0.2.2"), nettest.PingSrc(netip.MustParseAddr("fd00:1::1")))
	require.ErrorContains(t, err, "different families")
	_, err = h1.Ping(context.Background(), netip.MustParseAddr("10.0.2.2"), nettest.PingSrc(netip.MustParseAddr("10.0.2.2")))
	require.ErrorContains(t, err, "binding to 10.0.2.2")

	require.NoError(t, n.Close())
	_, err = h1.Ping(context.Background(), netip.MustParseAddr("10.0.2.2"))
	require.ErrorContains(t, err, "the network is closed")
}

// TestFirstForwardedPacketAfterBuild: right after Build, many at once, a
// router forwards the first IPv6 packet without delay. (A router solicits
// the next hop of a forwarded packet from its link-local address; Build
// used to return while that address could still be tentative, and the
// packet then waited a second for the solicitation's retry.)
func TestFirstForwardedPacketAfterBuild(t *testing.T) {
	testenv.RequirePrivilege(t)
	const rounds, parallel = 10, 16
	for range rounds {
		var wg sync.WaitGroup
		errs := make([]error, parallel)
		for i := range parallel {
			wg.Go(func() { errs[i] = pingAcrossRouter() })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
}

// pingAcrossRouter builds h1 - r1 - h2 and pings h2 from h1 over IPv6 at once.
func pingAcrossRouter() error {
	ctx := context.Background()
	n, err := nettest.NewBuilder("fwd").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2").Build(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	h1, err := n.Node("h1")
	if err != nil {
		return err
	}
	dst, err := n.Addr("h2", nettest.IPv6)
	if err != nil {
		return err
	}
	_, err = h1.Ping(ctx, dst, nettest.PingTimeout(500*time.Millisecond))
	return err
}
