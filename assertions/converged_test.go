package assertions_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/assertions"
)

// TestRouteProto: the protocol of the route matched, nettest's own
// ("boot"), the kernel's ("kernel") and one added as OSPF does.
func TestRouteProto(t *testing.T) {
	t.Parallel()
	n := ecmp(t)
	passes(t, func(f *fakeT) bool { return assertions.RouteProto(f, n, "h", "10.0.3.0/24", "boot") })
	passes(t, func(f *fakeT) bool { return assertions.RouteProto(f, n, "h", "10.0.1.9", "kernel") })
	msg := fails(t, func(f *fakeT) bool { return assertions.RouteProto(f, n, "h", "10.0.3.0/24", "ospf") })
	require.Equal(t, "route to 10.0.3.0/24 on h: proto boot, want proto ospf (h's route: 10.0.3.0/24 via 10.0.1.2 dev up1)", msg)

	h := node(t, n, "h")
	_, dst, _ := net.ParseCIDR("10.0.7.0/24")
	require.NoError(t, h.Netlink(func(nh *netlink.Handle) error {
		up1, err := nh.LinkByName("up1")
		if err != nil {
			return err
		}
		return nh.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("10.0.1.2"), LinkIndex: up1.Attrs().Index, Protocol: unix.RTPROT_OSPF})
	}))
	passes(t, func(f *fakeT) bool { return assertions.RouteProto(f, n, "h", "10.0.7.1", "ospf") })
	msg = fails(t, func(f *fakeT) bool { return assertions.RouteProto(f, n, "h", "10.0.7.0/24", "bgp") })
	require.Equal(t, "route to 10.0.7.0/24 on h: proto ospf, want proto bgp (h's route: 10.0.7.0/24 via 10.0.1.2 dev up1 proto ospf)", msg)
}

// TestConverged: a routed network converges once its tables held still
// for the settle time; one whose hosts cannot reach each other, or whose
// routes keep changing, does not, and the failure says which.
func TestConverged(t *testing.T) {
	t.Parallel()
	n := chain(t)
	start := time.Now()
	passes(t, func(f *fakeT) bool {
		return assertions.Converged(f, n, assertions.Settle(300*time.Millisecond), assertions.Within(10*time.Second))
	})
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "it waits for the settle time")

	// Routes that never settle: every 10ms r1 gets a route it never had
	// (10.0.77.N/32) and loses the one before, so no two reads agree.
	r1 := node(t, n, "r1")
	stop := make(chan struct{})
	done := make(chan struct{})
	var stopOnce sync.Once
	stopFlapping := func() { stopOnce.Do(func() { close(stop); <-done }) }
	t.Cleanup(stopFlapping) // also when a require below ends the test
	go func() {
		defer close(done)
		route := func(nh *netlink.Handle, i int) *netlink.Route {
			eth0, _ := nh.LinkByName("eth0")
			dst := &net.IPNet{IP: net.IPv4(10, 0, 77, byte(i)), Mask: net.CIDRMask(32, 32)}
			return &netlink.Route{Dst: dst, LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK}
		}
		for i := 1; ; i = i%250 + 1 {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if err := r1.Netlink(func(nh *netlink.Handle) error {
				nh.RouteDel(route(nh, (i+248)%250+1)) // the one before, if any
				return nh.RouteAdd(route(nh, i))
			}); err != nil {
				return // the network closed: the test has ended
			}
		}
	}()
	msg := fails(t, func(f *fakeT) bool {
		return assertions.Converged(f, n, assertions.Settle(500*time.Millisecond), assertions.Within(time.Second))
	})
	stopFlapping()
	require.True(t, strings.HasPrefix(msg, "not converged after 1s: r1's routes changed "), msg)
	require.Contains(t, msg, "10.0.77.")

	// Stable routes, but h1 has lost its way out.
	h1 := node(t, n, "h1")
	require.NoError(t, h1.Netlink(func(nh *netlink.Handle) error {
		routes, err := nh.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() != "10.9.0.0/24" && r.Gw != nil {
				if err := nh.RouteDel(&r); err != nil {
					return err
				}
			}
		}
		return err
	}))
	msg = fails(t, func(f *fakeT) bool {
		return assertions.Converged(f, n, assertions.Settle(200*time.Millisecond), assertions.Within(time.Second), assertions.IPv4())
	})
	require.True(t, strings.HasPrefix(msg, "not converged after 1s: the routes held still for 200ms, but reachability of h1, h2, h3: 4/6 pings failed"), msg)

	msg = fails(t, func(f *fakeT) bool { return assertions.Converged(f, n, assertions.Settle(-time.Second)) })
	require.Equal(t, "assertions.Converged: option Settle(-1s): want a positive duration", msg)
}
