package assertions_test

import (
	"net"
	"strings"
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

	// Routes that change every 70ms (not a multiple of the 100ms between reads) never settle.
	r1 := node(t, n, "r1")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, dst, _ := net.ParseCIDR("10.0.77.0/24")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(70 * time.Millisecond):
			}
			if err := r1.Netlink(func(nh *netlink.Handle) error {
				eth0, err := nh.LinkByName("eth0")
				if err != nil {
					return err
				}
				r := &netlink.Route{Dst: dst, LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK}
				if i%2 == 0 {
					return nh.RouteAdd(r)
				}
				return nh.RouteDel(r)
			}); err != nil {
				t.Log(err)
			}
		}
	}()
	msg := fails(t, func(f *fakeT) bool {
		return assertions.Converged(f, n, assertions.Settle(500*time.Millisecond), assertions.Within(time.Second))
	})
	close(stop)
	<-done
	require.True(t, strings.HasPrefix(msg, "not converged after 1s: r1's routes changed "), msg)
	require.Contains(t, msg, "10.0.77.0/24")

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
