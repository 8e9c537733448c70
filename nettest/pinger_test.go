package nettest_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

// TestPinger: many pings at once from one node over a Pinger share one
// socket per family, and each sees only its own replies, or its own ICMP
// error; a source address still gets a socket of its own.
func TestPinger(t *testing.T) {
	n := routedTopology(t)
	h1 := node(t, n, "h1")
	p := h1.Pinger()
	defer p.Close()
	want := map[string]string{
		"10.0.2.2":               "5/5",
		"fd00:2::2":              "5/5",
		"10.0.1.99":              "0/5 replies within 300ms",
		"fd00:1::99":             "0/5 replies within 300ms",
		"198.18.255.254":         "0/1 replies: destination unreachable (network unreachable) from 10.0.1.2",
		"fdf6:fd81:8f7e:ffff::1": "0/1 replies: destination unreachable (no route) from fd00:1::2",
	}
	var dsts []string
	for dst, w := range want {
		times := 8
		if strings.Contains(w, "unreachable") {
			times = 1 // r1 sends h1 a burst of 6 ICMP errors at most, then one a second
		}
		for range times {
			dsts = append(dsts, dst)
		}
	}
	results := make([]nettest.PingResult, len(dsts))
	errs := make([]error, len(dsts))
	var wg sync.WaitGroup
	for i, dst := range dsts {
		wg.Go(func() {
			results[i], errs[i] = p.Ping(context.Background(), netip.MustParseAddr(dst), nettest.PingCount(5),
				nettest.PingInterval(5*time.Millisecond), nettest.PingTimeout(300*time.Millisecond))
		})
	}
	wg.Wait()
	for i, dst := range dsts {
		require.True(t, strings.HasPrefix(results[i].String(), want[dst]), "%s: %s", dst, results[i])
		if strings.HasPrefix(want[dst], "5/5") {
			require.NoError(t, errs[i], dst)
		} else {
			require.ErrorIs(t, errs[i], nettest.ErrNoReply, dst)
			require.Equal(t, strings.Contains(want[dst], "unreachable"), errors.Is(errs[i], nettest.ErrUnreachable), dst)
		}
	}
	// One ICMP socket per family in h1, however many pings.
	for _, f := range []string{"/proc/thread-self/net/icmp", "/proc/thread-self/net/icmp6"} {
		var b []byte
		require.NoError(t, h1.Do(func() (err error) { b, err = os.ReadFile(f); return err }))
		require.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n")[1:], 1, "%s:\n%s", f, b)
	}

	res, err := p.Ping(context.Background(), netip.MustParseAddr("10.0.2.2"), nettest.PingSrc(netip.MustParseAddr("10.0.1.1")))
	require.NoError(t, err)
	require.Equal(t, 1, res.Received)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Ping(ctx, netip.MustParseAddr("10.0.1.99"), nettest.PingTimeout(10*time.Second))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, p.Close())
	_, err = p.Ping(context.Background(), netip.MustParseAddr("10.0.2.2"))
	require.ErrorContains(t, err, "nettest: node h1: ping 10.0.2.2: the Pinger is closed")
}
