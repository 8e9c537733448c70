package must

import (
	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// TestingT is what the checks report to and stop: *testing.T, or any value
// with testify's require.TestingT shape. When it also has a Helper method,
// the checks call it.
type TestingT interface {
	Errorf(format string, args ...any)
	FailNow()
}

type helperT interface{ Helper() }

// Ping is [assertions.Ping], ending the test when it fails.
func Ping(t TestingT, n *nettest.Network, from, to string, opts ...assertions.PingOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.Ping(t, n, from, to, opts...))
}

// NoPing is [assertions.NoPing], ending the test when it fails.
func NoPing(t TestingT, n *nettest.Network, from, to string, opts ...assertions.PingOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.NoPing(t, n, from, to, opts...))
}

// CanDial is [assertions.CanDial], ending the test when it fails.
func CanDial(t TestingT, n *nettest.Network, from, network, to string, port int, opts ...assertions.DialOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.CanDial(t, n, from, network, to, port, opts...))
}

// NoDial is [assertions.NoDial], ending the test when it fails.
func NoDial(t TestingT, n *nettest.Network, from, network, to string, port int, opts ...assertions.NoDialOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.NoDial(t, n, from, network, to, port, opts...))
}

// RouteVia is [assertions.RouteVia], ending the test when it fails.
func RouteVia(t TestingT, n *nettest.Network, node, dst, gateway string, opts ...assertions.RouteOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.RouteVia(t, n, node, dst, gateway, opts...))
}

// RouteDev is [assertions.RouteDev], ending the test when it fails.
func RouteDev(t TestingT, n *nettest.Network, node, dst, dev string, opts ...assertions.RouteOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.RouteDev(t, n, node, dst, dev, opts...))
}

// RouteSrc is [assertions.RouteSrc], ending the test when it fails.
func RouteSrc(t TestingT, n *nettest.Network, node, dst, src string, opts ...assertions.RouteOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.RouteSrc(t, n, node, dst, src, opts...))
}

// NoRoute is [assertions.NoRoute], ending the test when it fails.
func NoRoute(t TestingT, n *nettest.Network, node, dst string, opts ...assertions.RouteOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.NoRoute(t, n, node, dst, opts...))
}

// Reachable is [assertions.Reachable], ending the test when it fails.
func Reachable(t TestingT, n *nettest.Network, nodes []string, opts ...assertions.PingOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.Reachable(t, n, nodes, opts...))
}

// stopUnless ends the test unless the check passed.
func stopUnless(t TestingT, passed bool) {
	if !passed {
		t.FailNow()
	}
}

// SawPacket is [assertions.SawPacket], ending the test when it fails.
func SawPacket(t TestingT, c *nettest.Capture, m assertions.Match, opts ...assertions.PacketOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.SawPacket(t, c, m, opts...))
}

// NoPacket is [assertions.NoPacket], ending the test when it fails.
func NoPacket(t TestingT, c *nettest.Capture, m assertions.Match, opts ...assertions.PacketOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.NoPacket(t, c, m, opts...))
}

// RouteProto is [assertions.RouteProto], ending the test when it fails.
func RouteProto(t TestingT, n *nettest.Network, node, dst, proto string, opts ...assertions.RouteOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.RouteProto(t, n, node, dst, proto, opts...))
}

// Converged is [assertions.Converged], ending the test when it fails.
func Converged(t TestingT, n *nettest.Network, opts ...assertions.ConvergeOption) {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	stopUnless(t, assertions.Converged(t, n, opts...))
}
