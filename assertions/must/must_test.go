package must_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/assertions/must"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

func TestMain(m *testing.M) {
	testenv.Private()
	testenv.SkipExamplesWithoutPrivilege()
	os.Exit(m.Run())
}

// fakeT records failures, Helper calls and FailNow.
type fakeT struct {
	errors  []string
	helpers int
	stopped bool
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeT) Helper()  { f.helpers++ }
func (f *fakeT) FailNow() { f.stopped = true }

// TestMust: every check stops the test when it fails, with the message of
// package assertions, and lets it go on when it passes.
func TestMust(t *testing.T) {
	testenv.RequirePrivilege(t)
	n, err := nettest.NewBuilder("must").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2").Build(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	h2, err := n.Node("h2")
	require.NoError(t, err)
	_, stop, err := h2.Echo("tcp", ":8080")
	require.NoError(t, err)
	t.Cleanup(func() { stop() })
	short := assertions.Timeout(200 * time.Millisecond)

	for _, c := range []struct {
		name       string
		pass, fail func(must.TestingT)
		message    string
	}{
		{"Ping", func(t must.TestingT) { must.Ping(t, n, "h1", "h2") },
			func(t must.TestingT) { must.Ping(t, n, "h1", "198.18.255.254") },
			"ping h1 -> 198.18.255.254: 0/1 replies: network is unreachable (the kernel refused to send); h1's kernel has no route to it"},
		{"NoPing", func(t must.TestingT) { must.NoPing(t, n, "h1", "198.18.255.254") },
			func(t must.TestingT) { must.NoPing(t, n, "h1", "h9") },
			`ping h1 -> h9: nettest: must has no node "h9" (it has h1, h2, r1)`},
		{"CanDial", func(t must.TestingT) { must.CanDial(t, n, "h1", "tcp", "h2", 8080) },
			func(t must.TestingT) { must.CanDial(t, n, "h1", "tcp4", "h2", 8081) },
			"dial tcp4 h1 -> h2 (198.18.0.6:8081): refused, want connected"},
		{"NoDial", func(t must.TestingT) { must.NoDial(t, n, "h1", "tcp", "h2", 8081, short) },
			func(t must.TestingT) { must.NoDial(t, n, "h1", "tcp6", "h2", 8080) },
			"dial tcp6 h1 -> h2 ([fdf6:fd81:8f7e:1::2]:8080): connected, want no connection"},
		{"RouteVia", func(t must.TestingT) { must.RouteVia(t, n, "h1", "h2", "r1") },
			func(t must.TestingT) { must.RouteVia(t, n, "h1", "h2", "h2", assertions.IPv4()) },
			"route to h2 (198.18.0.6) on h1: via 198.18.0.2, want via h2 (198.18.0.6) (h1's route: 198.18.0.4/30 via 198.18.0.2 dev eth0 metric 1024)"},
		{"RouteDev", func(t must.TestingT) { must.RouteDev(t, n, "r1", "h2", "eth1") },
			func(t must.TestingT) { must.RouteDev(t, n, "r1", "h2", "eth0", assertions.IPv4()) },
			"route to h2 (198.18.0.6) on r1: dev eth1, want dev eth0 (r1's route: 198.18.0.4/30 dev eth1 src 198.18.0.5)"},
		{"RouteSrc", func(t must.TestingT) { must.RouteSrc(t, n, "r1", "h2", "r1:eth1") },
			func(t must.TestingT) { must.RouteSrc(t, n, "r1", "h2", "r1:eth0", assertions.IPv4()) },
			"route to h2 (198.18.0.6) on r1: src 198.18.0.5, want src r1:eth0 (198.18.0.2) (r1's route: 198.18.0.6 dev eth1 src 198.18.0.5)"},
		{"NoRoute", func(t must.TestingT) { must.NoRoute(t, n, "h1", "198.18.255.254") },
			func(t must.TestingT) { must.NoRoute(t, n, "r1", "h1", assertions.IPv6()) },
			"route to h1 (fdf6:fd81:8f7e::1) on r1: a route, want no route (r1's route: fdf6:fd81:8f7e::/64 dev eth0 metric 256)"},
		{"RouteProto", func(t must.TestingT) { must.RouteProto(t, n, "h1", "h2", "boot") },
			func(t must.TestingT) { must.RouteProto(t, n, "h1", "h2", "ospf", assertions.IPv4()) },
			"route to h2 (198.18.0.6) on h1: proto boot, want proto ospf (h1's route: 198.18.0.4/30 via 198.18.0.2 dev eth0 metric 1024)"},
		{"Converged", func(t must.TestingT) { must.Converged(t, n, assertions.Settle(100*time.Millisecond)) },
			func(t must.TestingT) { must.Converged(t, n, assertions.Settle(-time.Second)) },
			"assertions.Converged: option Settle(-1s): want a positive duration"},
		{"Reachable", func(t must.TestingT) { must.Reachable(t, n, nil) },
			func(t must.TestingT) { must.Reachable(t, n, []string{"h1", "nope"}) },
			`reachability of h1, nope: nettest: must has no node "nope" (it has h1, h2, r1)`},
	} {
		ok := &fakeT{}
		c.pass(ok)
		require.Empty(t, ok.errors, c.name)
		require.False(t, ok.stopped, "%s: passed, the test goes on", c.name)
		require.Positive(t, ok.helpers, c.name)

		bad := &fakeT{}
		c.fail(bad)
		require.Equal(t, []string{c.message}, bad.errors, c.name)
		require.True(t, bad.stopped, "%s: failed, the test stops", c.name)
	}
}

// exampleT prints what a check reports and says when it stops the test.
// In a test, pass the test's t.
type exampleT struct{}

func (exampleT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (exampleT) FailNow()                          { fmt.Println("(the test stops here)") }

// A check that must pass for the test to go on, as testify's require.
func ExamplePing() {
	n, err := nettest.NewBuilder("must").Host("h1", "h2").Link("h1", "h2").Build(context.Background())
	if err != nil {
		panic(err)
	}
	defer n.Close()
	t := exampleT{} // in a test: t *testing.T

	must.Ping(t, n, "h1", "h2")
	must.Ping(t, n, "h1", "h3")
	// Output:
	// ping h1 -> h3: nettest: must has no node "h3" (it has h1, h2)
	// (the test stops here)
}

// TestMustCapture: SawPacket and NoPacket stop the test when they fail.
func TestMustCapture(t *testing.T) {
	testenv.RequirePrivilege(t)
	n, err := nettest.NewBuilder("mustcap").Host("a", "b").Link("a", "b").Build(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	b, err := n.Node("b")
	require.NoError(t, err)
	c, err := b.Capture("eth0", "")
	require.NoError(t, err)
	defer c.Stop()
	must.Ping(t, n, "a", "b", assertions.IPv4())
	reply := assertions.Match{ICMP: "echo-reply"}
	must.SawPacket(t, c, reply)
	must.NoPacket(t, c, assertions.Match{Proto: "tcp", DstPort: 22})

	bad := &fakeT{}
	must.NoPacket(bad, c, reply)
	require.True(t, bad.stopped)
	require.Len(t, bad.errors, 1)
	require.Contains(t, bad.errors[0], "want none")
	bad = &fakeT{}
	must.SawPacket(bad, c, assertions.Match{Proto: "tcp"})
	require.True(t, bad.stopped)
	require.Contains(t, bad.errors[0], "want at least one")
}
