package assertions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
)

func TestCanDial(t *testing.T) {
	t.Parallel()
	n := chain(t)
	h2 := node(t, n, "h2")
	for _, network := range []string{"tcp", "udp"} {
		a, stop, err := h2.Echo(network, ":8080")
		require.NoError(t, err)
		t.Cleanup(func() { stop() })
		require.Contains(t, a.String(), ":8080")
	}
	for _, network := range []string{"tcp", "udp", "tcp4", "udp6"} {
		passes(t, func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", network, "h2", 8080) })
	}
	passes(t, func(f *fakeT) bool { return assertions.CanDial(f, n, "h3", "udp", "fdf6:fd81:8f7e:1::2", 8080) })
	passes(t, func(f *fakeT) bool {
		return assertions.CanDial(f, n, "r1:eth0", "tcp", "h2:eth0", 8080, assertions.IPv4())
	})

	msg := fails(t, func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp", "h2", 8081) })
	require.Equal(t, []string{
		"dial tcp h1 -> h2 (198.18.0.6:8081): refused, want connected",
		"dial tcp h1 -> h2 ([fdf6:fd81:8f7e:1::2]:8081): refused, want connected",
	}, lines(msg))
	msg = fails(t, func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "udp4", "h2", 8081) })
	require.Equal(t, "dial udp4 h1 -> h2 (198.18.0.6:8081): refused, want connected", msg)
	msg = fails(t, func(f *fakeT) bool {
		return assertions.CanDial(f, n, "h1", "tcp", silent, 8080, assertions.Timeout(200*time.Millisecond))
	})
	require.Equal(t, "dial tcp h1 -> 10.9.0.1:8080: timed out after 200ms, want connected; h1's kernel routes it: 10.9.0.1 dev eth0 src 198.18.0.1", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.CanDial(f, n, "h1", "tcp", "192.0.2.1", 80) })
	require.Equal(t, "dial tcp h1 -> 192.0.2.1:80: unreachable (network is unreachable), want connected; h1's kernel has no route to it", msg)
}

func TestNoDial(t *testing.T) {
	t.Parallel()
	n := chain(t)
	h2 := node(t, n, "h2")
	_, stop, err := h2.Echo("tcp", ":8080")
	require.NoError(t, err)
	t.Cleanup(func() { stop() })
	// A UDP port that takes datagrams and never answers.
	quiet, err := h2.ListenPacket("udp", ":5353")
	require.NoError(t, err)
	t.Cleanup(func() { quiet.Close() })
	short := assertions.Timeout(200 * time.Millisecond)

	passes(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "tcp", "h2", 8081) })
	passes(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "tcp", "h2", 8081, assertions.Refused()) })
	passes(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "udp", "h2", 8081, assertions.Refused()) })
	passes(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "udp", "h2", 5353, short, assertions.TimedOut())
	})
	passes(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "tcp", silent, 80, short, assertions.TimedOut())
	})
	passes(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "tcp", "192.0.2.1", 80) })
	passes(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "udp", "h2", 5353, short, assertions.TimedOut(), assertions.Refused())
	})

	msg := fails(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "tcp6", "h2", 8080) })
	require.Equal(t, "dial tcp6 h1 -> h2 ([fdf6:fd81:8f7e:1::2]:8080): connected, want no connection", msg)
	msg = fails(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "udp", "h2", 5353, short, assertions.Refused(), assertions.IPv4())
	})
	require.Equal(t, "dial udp h1 -> h2 (198.18.0.6:5353): timed out after 200ms, want refused; h1's kernel routes it: 198.18.0.6 via 198.18.0.2 dev eth0 src 198.18.0.1", msg)
	msg = fails(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "tcp4", "h2", 8081, assertions.TimedOut())
	})
	require.Equal(t, "dial tcp4 h1 -> h2 (198.18.0.6:8081): refused, want timed out", msg)
	msg = fails(t, func(f *fakeT) bool {
		return assertions.NoDial(f, n, "h1", "tcp", "192.0.2.1", 80, assertions.Refused())
	})
	require.Equal(t, "dial tcp h1 -> 192.0.2.1:80: unreachable (network is unreachable), want refused; h1's kernel has no route to it", msg)

	// An echo that answers over UDP fails NoDial.
	_, stopUDP, err := h2.Echo("udp", ":8080")
	require.NoError(t, err)
	t.Cleanup(func() { stopUDP() })
	msg = fails(t, func(f *fakeT) bool { return assertions.NoDial(f, n, "h1", "udp4", "h2", 8080) })
	require.Equal(t, "dial udp4 h1 -> h2 (198.18.0.6:8080): connected (answered), want no connection", msg)
}
