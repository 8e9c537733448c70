package nettest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// probeAddr is what the test tries to add, through a handle kept past Close,
// to the loopback of whatever namespace that handle would reach.
var probeAddr = &net.IPNet{IP: net.IPv4(192, 0, 2, 99), Mask: net.CIDRMask(32, 32)}

// TestClosedNetworkGivesNothingOut: after Close, every accessor of a node or
// switch fails with ErrClosed, and what was handed out before Close (a
// netlink handle kept past its function, a firewall connection) fails too:
// none of them falls back to the calling thread's namespace. The requests
// that would do so run on a thread in a throwaway namespace of the test's,
// so that a regression adds nothing to the host.
func TestClosedNetworkGivesNothingOut(t *testing.T) {
	testenv.RequirePrivilege(t)
	hostLo := loAddrs(t, nil)
	t.Cleanup(func() {
		require.Equal(t, hostLo, loAddrs(t, nil), "the host's lo changed")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := nettest.Build(ctx, mustTopology(t, nettest.NewBuilder("closed").Host("h1", "h2").LAN("sw", []string{"h1", "h2"})))
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	h1, sw := node(t, n, "h1"), node(t, n, "sw")

	// What was given out while the network was open, and worked.
	var kept *netlink.Handle
	require.NoError(t, h1.Netlink(func(h *netlink.Handle) error {
		kept = h
		_, err := h.LinkByName("eth0")
		return err
	}))
	fd, err := h1.NetNS()
	require.NoError(t, err)
	require.GreaterOrEqual(t, int(fd), 0)
	path, err := h1.NetNSPath()
	require.NoError(t, err)
	require.Regexp(t, `^/proc/\d+/fd/\d+$`, path)
	var conn *nftables.Conn
	if fs, err := nettest.DetectFeatures(); err == nil && fs.Supported(nettest.FeatureNFTables) {
		conn, err = h1.Firewall().Conn()
		require.NoError(t, err)
		_, err = conn.ListTables()
		require.NoError(t, err)
	}

	require.NoError(t, n.Close())

	for _, nd := range []*nettest.Node{h1, sw} {
		called := false
		err := nd.Netlink(func(*netlink.Handle) error { called = true; return nil })
		require.ErrorIs(t, err, nettest.ErrClosed, "%s: Netlink", nd)
		require.False(t, called, "%s: Netlink ran its function after Close", nd)
		fd, err := nd.NetNS()
		require.ErrorIs(t, err, nettest.ErrClosed, "%s: NetNS", nd)
		require.NotEqual(t, netns.None(), fd, "%s: NetNS gave -1, the caller's own namespace to netns and netlink", nd)
		require.ErrorIs(t, unix.Setns(int(fd), unix.CLONE_NEWNET), unix.EBADF)
		path, err := nd.NetNSPath()
		require.ErrorIs(t, err, nettest.ErrClosed, "%s: NetNSPath", nd)
		require.Empty(t, path)
	}
	// Every other way into a node.
	closed := map[string]error{}
	closed["Do"] = h1.Do(func() error { return nil })
	_, closed["Listen"] = h1.Listen("tcp", "127.0.0.1:0")
	_, closed["ListenPacket"] = h1.ListenPacket("udp", "127.0.0.1:0")
	_, closed["Dial"] = h1.Dial("tcp", "127.0.0.1:9")
	_, _, closed["Echo"] = h1.Echo("tcp", "127.0.0.1:0")
	_, closed["HTTPClient"] = h1.HTTPClient().Get("http://127.0.0.1:9/")
	closed["Command"] = h1.Command("true").Run()
	_, closed["Ping"] = h1.Ping(ctx, netip.MustParseAddr("127.0.0.1"))
	_, closed["RouteGet"] = h1.RouteGet(netip.MustParseAddr("127.0.0.1"))
	_, closed["RouteMatch"] = h1.RouteMatch(netip.MustParseAddr("127.0.0.1"))
	_, closed["Capture"] = h1.Capture("eth0", "")
	_, closed["Firewall.Rules"] = h1.Firewall().Rules()
	_, closed["Firewall.Conn"] = h1.Firewall().Conn()
	closed["NAT.Masquerade"] = h1.NAT().Masquerade("eth0")
	closed["Report"] = h1.Report(io.Discard)
	_, closed["Persist"] = n.Persist()
	eth0, err := h1.Interface("eth0")
	require.NoError(t, err)
	closed["Interface.SetDown"] = eth0.SetDown()
	closed["Link.SetUp"] = eth0.Link().SetUp(ctx)
	for what, err := range closed {
		assert.ErrorIs(t, err, nettest.ErrClosed, what)
	}

	// What was kept from before Close, used from a thread whose own
	// namespace is a throwaway one.
	onThrowawayNamespace(t, func() {
		before := loAddrs(t, nil)
		links, err := kept.LinkList()
		assert.Error(t, err, "LinkList on a handle kept past Close listed %d links of the calling thread's namespace", len(links))
		err = kept.AddrAdd(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}, &netlink.Addr{IPNet: probeAddr})
		assert.Error(t, err, "AddrAdd on a handle kept past Close")
		assert.Equal(t, before, loAddrs(t, nil), "a handle kept past Close added an address to the calling thread's lo")
	})
	if conn != nil {
		onThrowawayNamespace(t, func() {
			// After CloseLasting a Conn dials again for each request,
			// with the namespace descriptor it was made with. Put this
			// thread's namespace at that number (when it is free) so that
			// a Conn that still used it would list this namespace's
			// tables rather than fail.
			if self, err := netns.Get(); err == nil {
				defer self.Close()
				if self != fd {
					if dup, err := unix.FcntlInt(uintptr(self), unix.F_DUPFD_CLOEXEC, int(fd)); err == nil {
						defer unix.Close(dup)
						if dup != int(fd) {
							t.Logf("descriptor %d is taken again: the stale-descriptor case is not exercised", fd)
						}
					}
				}
			}
			assert.NoError(t, conn.CloseLasting())
			_, err := conn.ListTables()
			assert.Error(t, err, "a firewall Conn closed after Close listed the tables of another namespace")
		})
	}
}

// loAddrs lists the addresses on lo through h (nil: in the calling
// thread's namespace), as strings.
func loAddrs(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			t.Errorf("opening a netlink socket: %v", err)
			return nil
		}
		defer h.Close()
	}
	addrs, err := h.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}}, netlink.FAMILY_ALL)
	if err != nil {
		t.Errorf("listing lo's addresses: %v", err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out
}

// onThrowawayNamespace runs fn on a goroutine locked to an OS thread that
// has entered a new, empty network namespace, then puts the thread back. fn must report failures with t.Error, not
// t.Fatal.
func onThrowawayNamespace(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Go cannot end the process's main thread with its goroutine, so
		// the thread goes home before it is unlocked; if it cannot, it
		// stays locked and ends with the goroutine (or is never used again).
		home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			done <- err
			return
		}
		defer home.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		defer func() {
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			done <- nil
		}()
		fn()
	}()
	if err := <-done; err != nil {
		t.Fatalf("making a throwaway namespace: %v", err)
	}
}
