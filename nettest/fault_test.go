package nettest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/nettest"
)

// TestInterfaceDownOneEnd: one end down leaves the other up without a
// carrier; ping stops; the end comes back with its routes.
func TestInterfaceDownOneEnd(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("oneend").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2")))
	h1, r1 := node(t, n, "h1"), node(t, n, "r1")
	end, err := h1.Interface("eth0")
	require.NoError(t, err)
	require.NoError(t, end.SetDown())
	var peer netlink.Link
	require.NoError(t, r1.Netlink(func(h *netlink.Handle) (err error) {
		peer, err = h.LinkByName(end.Peer().Name())
		return err
	}))
	require.Equal(t, netlink.LinkOperState(netlink.OperDown), peer.Attrs().OperState, "the other end has no carrier")
	require.NotZero(t, peer.Attrs().Flags&net.FlagUp, "but stays administratively up")
	require.Zero(t, peer.Attrs().RawFlags&unix.IFF_LOWER_UP)
	noPing(t, h1, addr(t, n, "h2", nettest.IPv4))
	require.NoError(t, end.SetUp(context.Background()))
	for _, f := range bothFamilies {
		ping(t, h1, addr(t, n, "h2", f))
	}
}

// TestPartition: a set of nodes cut off from the rest, and healed.
func TestPartition(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("part").Host("h1", "h2", "h3").Router("r1", "r2").
		Chain("h1", "r1", "r2", "h2").LAN("lan", []string{"r2", "h3"})))
	p, err := n.Partition("h1", "r1")
	require.NoError(t, err)
	require.Equal(t, "h1, r1 cut off (links r1-r2 down)", p.String())
	ping(t, node(t, n, "h1"), addr(t, n, "r1", nettest.IPv4)) // inside the partition
	noPing(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))
	ping(t, node(t, n, "h2"), addr(t, n, "h3", nettest.IPv6)) // outside it
	require.NoError(t, p.Heal(context.Background()))
	require.NoError(t, p.Heal(context.Background()), "healing twice")
	for _, f := range bothFamilies {
		ping(t, node(t, n, "h1"), addr(t, n, "h3", f))
	}

	// On a LAN: the partitioned member is cut from the switch.
	p, err = n.Isolate("h3")
	require.NoError(t, err)
	require.Equal(t, "h3 cut off (links lan:h3 down)", p.String())
	noPing(t, node(t, n, "r2"), addr(t, n, "h3", nettest.IPv4))
	require.NoError(t, p.Heal(context.Background()))
	ping(t, node(t, n, "r2"), addr(t, n, "h3", nettest.IPv4))

	_, err = n.Partition("h1", "nobody")
	require.ErrorContains(t, err, `has no node "nobody"`)
	_, err = n.Partition("lan")
	require.ErrorContains(t, err, "lan is a LAN's switch; name nodes")
	_, err = n.Partition()
	require.ErrorContains(t, err, "no nodes given")
}

// TestFlap: a link goes down and up on a schedule; it ends up.
func TestFlap(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("flap").Host("a", "b").Link("a", "b")))
	l, err := n.Link("a-b")
	require.NoError(t, err)
	done := l.Flap(context.Background(), 60*time.Millisecond, 60*time.Millisecond, 3)
	changes, last := 0, true
	for waiting := true; waiting; {
		select {
		case err := <-done:
			require.NoError(t, err)
			waiting = false
		case <-time.After(5 * time.Millisecond):
			if up := l.IsUp(); up != last {
				changes++
				last = up
			}
		}
	}
	require.GreaterOrEqual(t, changes, 5, "three downs and ups seen")
	require.True(t, l.IsUp())
	ping(t, node(t, n, "a"), addr(t, n, "b", nettest.IPv6))

	// Cancelled, it stops and leaves the link up.
	ctx, cancel := context.WithCancel(context.Background())
	done = l.Flap(ctx, time.Second, time.Second, 100)
	time.Sleep(50 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.True(t, l.IsUp())
}

// TestUpThenDownAtOnce: an interface set down right after it came up, before
// the kernel restored its IPv6 address (which it does a moment later, from
// a work queue), has that address back, usable, when it next comes up. The
// kernel kept the address without its local route (the address answered
// nothing: replies to it were forwarded back out as to a neighbour), so a
// first ping failed after about one in six such cycles, and every later one.
func TestUpThenDownAtOnce(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("upthendown").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2")))
	r1 := node(t, n, "r1")
	l, err := n.Link("r1-h2")
	require.NoError(t, err)
	end := ifaceOn(t, n, "r1", "r1-h2")
	ctx := context.Background()
	for i := range 20 {
		require.NoError(t, l.SetDown())
		for _, f := range bothFamilies {
			_, err := r1.Ping(ctx, addr(t, n, "h2", f), nettest.PingCount(1), nettest.PingTimeout(50*time.Millisecond))
			require.Error(t, err, "cycle %d: %s ping while the link is down", i, f)
		}
		// r1's end comes up (no carrier: h2's end is down) and goes down at once.
		require.NoError(t, end.SetUp(ctx))
		require.NoError(t, end.SetDown())
		require.NoError(t, l.SetUp(ctx))
		for _, f := range bothFamilies {
			_, err := r1.Ping(ctx, addr(t, n, "h2", f), nettest.PingCount(1), nettest.PingTimeout(time.Second))
			require.NoError(t, err, "cycle %d: the first %s ping once the link is up again", i, f)
		}
	}
}
