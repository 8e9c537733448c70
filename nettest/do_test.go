package nettest_test

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/hoststate"
	"github.com/nettestlab/nettest/nettest"
)

// TestDoThreadDiscipline runs code in nodes many times, concurrently, and
// then finds every thread of the process back in the process's namespace.
func TestDoThreadDiscipline(t *testing.T) {
	n := build(t, seedTopology())
	red, blue := node(t, n, "red"), node(t, n, "blue")
	var wg sync.WaitGroup
	for i := range 200 {
		nd := red
		if i%2 == 1 {
			nd = blue
		}
		wg.Go(func() {
			require.NoError(t, nd.Do(func() error {
				ifs, err := net.Interfaces()
				if err != nil {
					return err
				}
				// Inside red only lo and veth-red exist.
				require.Len(t, ifs, 2)
				return nil
			}))
		})
	}
	wg.Wait()
	outside, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, outside, "threads left in another namespace")
}

// TestDoPanicLeavesNoThreadBehind: a panic inside Do reaches the caller, and
// the thread that ran it is not reused in the node's namespace.
func TestDoPanicLeavesNoThreadBehind(t *testing.T) {
	n := build(t, seedTopology())
	red := node(t, n, "red")
	for range 10 {
		require.PanicsWithValue(t, "boom", func() {
			_ = red.Do(func() error { panic("boom") })
		})
	}
	outside, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, outside)
}

// TestDoSockets: a listener made inside a node serves from any goroutine;
// goroutines started inside Do run outside the node.
func TestDoSockets(t *testing.T) {
	n := build(t, seedTopology())
	red, blue := node(t, n, "red"), node(t, n, "blue")
	var ln net.Listener
	require.NoError(t, blue.Do(func() (err error) {
		ln, err = net.Listen("tcp", "10.1.1.2:0")
		return err
	}))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello from blue"))
			c.Close()
		}
	}()
	var conn net.Conn
	require.NoError(t, red.Do(func() (err error) {
		conn, err = net.Dial("tcp", ln.Addr().String())
		return err
	}))
	defer conn.Close()
	buf := make([]byte, 64)
	k, err := conn.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hello from blue", string(buf[:k]))
	require.Equal(t, netip.MustParseAddr("10.1.1.1"), conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())

	// A goroutine started inside Do runs in the caller's namespace.
	host, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	require.Equal(t, hostNS, host)
	seen := make(chan string, 1)
	require.NoError(t, red.Do(func() error {
		inside, _ := os.Readlink("/proc/thread-self/ns/net")
		require.NotEqual(t, hostNS, inside)
		go func() {
			s, _ := os.Readlink("/proc/thread-self/ns/net")
			seen <- s
		}()
		return nil
	}))
	require.Equal(t, hostNS, <-seen)
}

// TestClosedNetwork: Close is idempotent and a closed network says so.
func TestClosedNetwork(t *testing.T) {
	n := build(t, seedTopology())
	red := node(t, n, "red")
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	require.ErrorContains(t, red.Do(func() error { return nil }), "node red: the network is closed")
	_, err := red.RouteGet(netip.MustParseAddr("10.1.1.2"))
	require.ErrorContains(t, err, "the network is closed")
}

// TestLookups: nodes, links, interfaces and addresses by name, with errors
// that list what exists.
func TestLookups(t *testing.T) {
	n := build(t, seedTopology())
	_, err := n.Node("green")
	require.ErrorContains(t, err, `has no node "green" (it has red, blue)`)
	l, err := n.Link("red-blue")
	require.NoError(t, err)
	require.Equal(t, "red:veth-red", l.A().String())
	require.Equal(t, "blue:veth-blue", l.B().String())
	require.Equal(t, l.B(), l.A().Peer())
	l2, err := n.Link("blue:veth-blue")
	require.NoError(t, err)
	require.Same(t, l, l2)
	_, err = n.Link("red-green")
	require.ErrorContains(t, err, `no link "red-green" (links: red-blue; or name an end as node:iface)`)
	require.Equal(t, netip.MustParseAddr("10.1.1.2"), addr(t, n, "blue:veth-blue", nettest.IPv4))
	_, err = n.Addr("blue", nettest.IPv6)
	require.ErrorContains(t, err, "node blue has no IPv6 address")
	_, err = node(t, n, "red").Interface("eth0")
	require.ErrorContains(t, err, `node red has no interface "eth0" (it has veth-red)`)
	require.Equal(t, []nettest.Route(nil), node(t, n, "red").Routes())
}

// TestCloseWhileBusy: Close while other goroutines enter nodes and look up
// routes. Calls before Close succeed, calls after it say the network is
// closed; nothing races (run with -race) and no thread is left inside.
func TestCloseWhileBusy(t *testing.T) {
	n := build(t, seedTopology())
	red := node(t, n, "red")
	dst := netip.MustParseAddr("10.1.1.2")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%2 == 0 {
					err = red.Do(func() error { return nil })
				} else {
					_, err = red.RouteGet(dst)
				}
				if err != nil {
					require.ErrorContains(t, err, "the network is closed")
					return
				}
			}
		})
	}
	require.NoError(t, n.Close())
	close(stop)
	wg.Wait()
	outside, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, outside)
}

// TestDoGoexit: t.FailNow (runtime.Goexit) inside Do ends the caller's
// goroutine, as without Do, and leaves no thread in the node.
func TestDoGoexit(t *testing.T) {
	n := build(t, seedTopology())
	red := node(t, n, "red")
	ended := make(chan bool)
	go func() {
		returned := false
		defer func() { ended <- returned }()
		red.Do(func() error { runtime.Goexit(); return nil })
		returned = true
	}()
	select {
	case returned := <-ended:
		require.False(t, returned, "Do must not return after Goexit")
	case <-time.After(5 * time.Second):
		t.Fatal("Do hangs after runtime.Goexit")
	}
	outside, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, outside)
}
