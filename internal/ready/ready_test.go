package ready_test

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/ready"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

func TestSolicitedNode(t *testing.T) {
	for a, g := range map[string]string{
		"fd00::1":                   "ff02::1:ff00:1",
		"2001:db8::abcd:ef12:3456":  "ff02::1:ff12:3456",
		"fe80::1234:56ff:fe78:9abc": "ff02::1:ff78:9abc",
	} {
		if got := ready.SolicitedNode(netip.MustParseAddr(a)); got != netip.MustParseAddr(g) {
			t.Errorf("SolicitedNode(%s) = %s, want %s", a, got, g)
		}
	}
}

// TestPending reads the loopback of a network namespace of its own (needs
// privilege): down, it is pending with its operstate; up, it is ready.
func TestPending(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (a network namespace of its own)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread leaves the host's namespace and dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
		if err != nil {
			t.Error(err)
			return
		}
		defer sock.Close()
		h := &nl.SocketHandle{Socket: sock}
		lo := []ready.Iface{{Name: "lo", Index: 1, Tap: true}} // the loopback, like a TAP device, reports "unknown"
		pending, err := ready.Pending(h, append(lo, ready.Iface{Name: "eth9", Index: 9}), false)
		if err != nil {
			t.Error(err)
			return
		}
		if want := []string{"lo (operstate down)", "eth9 (missing)"}; !slices.Equal(pending, want) {
			t.Errorf("down: pending %q, want %q", pending, want)
		}
		if err := testenv.SetLinkUp("lo"); err != nil {
			t.Error(err)
			return
		}
		states, err := ready.LinkStates(h)
		if err != nil || !states["lo"].HasInet6 {
			t.Errorf("LinkStates: %+v, %v; want lo with IPv6 on", states, err)
		}
		if pending, err := ready.Pending(h, lo, false); err != nil || len(pending) != 0 {
			t.Errorf("up: pending %q, %v; want none", pending, err)
		}
	}()
	<-done
}
