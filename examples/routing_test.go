package examples_test

import (
	"context"
	"testing"
	"time"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/assertions/must"
	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/nettest"
)

// TestStaticRoutingFailover builds two hosts and three routers with static
// routes: the primary path h1 - r1 - r2 - h2 and a backup through r3 with a
// higher metric.
//
//	         10.0.12.0/24
//	h1 ── r1 ─────────── r2 ── h2
//	       ╲            ╱
//	10.0.13.0/24  r3  10.0.23.0/24
//
// It checks the routes and the traffic, cuts r1-r2, sees both move to r3,
// and restores the link.
func TestStaticRoutingFailover(t *testing.T) {
	t.Parallel()
	n := fixtures.Build(t, nettest.NewBuilder("failover").
		Auto(nettest.Auto{}). // every address below is ours
		Host("h1", "h2").Router("r1", "r2", "r3").
		Link("h1:eth0=10.0.1.10/24", "r1:h1=10.0.1.1/24").
		Link("r1:r2=10.0.12.1/24", "r2:r1=10.0.12.2/24").
		Link("r1:r3=10.0.13.1/24", "r3:r1=10.0.13.3/24").
		Link("r3:r2=10.0.23.3/24", "r2:r3=10.0.23.2/24").
		Link("r2:h2=10.0.2.1/24", "h2:eth0=10.0.2.10/24").
		Route("h1", "default via r1").
		Route("h2", "default via r2").
		Route("r1", "10.0.2.0/24 via r2 metric 10", "10.0.2.0/24 via r3 metric 20", "10.0.23.0/24 via r3").
		Route("r2", "10.0.1.0/24 via r1 metric 10", "10.0.1.0/24 via r3 metric 20", "10.0.13.0/24 via r3").
		Route("r3", "10.0.1.0/24 via r1", "10.0.2.0/24 via r2", "10.0.12.0/24 via r1"))

	// The primary path: r1 sends h2's traffic to r2, and h1 reaches h2.
	assertions.RouteVia(t, n, "r1", "h2", "r2")
	assertions.RouteDev(t, n, "r1", "h2", "r2")
	must.Ping(t, n, "h1", "h2")

	// Cut r1-r2: the kernel drops the routes through it, and the backup
	// (metric 20, via r3) takes over.
	link, err := n.Link("r1-r2")
	if err != nil {
		t.Fatal(err)
	}
	if err := link.SetDown(); err != nil {
		t.Fatal(err)
	}
	assertions.RouteVia(t, n, "r1", "h2", "r3")
	assertions.RouteVia(t, n, "r2", "h1", "r3")
	assertions.Ping(t, n, "h1", "h2", assertions.Count(3))
	assertions.NoPing(t, n, "r1", "r2:r1") // r2's end of the cut link

	// Restore it: the primary routes come back.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := link.SetUp(ctx); err != nil {
		t.Fatal(err)
	}
	assertions.RouteVia(t, n, "r1", "h2", "r2", assertions.Within(2*time.Second))
	assertions.Reachable(t, n, nil) // every pair of hosts and routers, at once
}

// TestAutoRoutesRingFailover fails a ring over and back on automatic
// routes alone — no daemon, no route written by hand. fixtures.Ring(t, 6)
// gives six routers in a ring, r1 … r6, each with a host, h1 … h6; the
// automatic routes follow the links like an instantly converging IGP,
// IPv4 and IPv6, on every router, not only those next to the cut.
func TestAutoRoutesRingFailover(t *testing.T) {
	t.Parallel()
	n := fixtures.Ring(t, 6)

	// r6 reaches h2 the short way, through r1 (r6 - r1 - r2).
	assertions.RouteVia(t, n, "r6", "h2", "r1", assertions.IPv4())
	assertions.RouteVia(t, n, "r6", "h2", "r1", assertions.IPv6())

	// Cut r1-r2: before SetDown returns, every router routes around it —
	// r6, two hops from the cut, now goes the other way round, through r5.
	link, err := n.Link("r1-r2")
	if err != nil {
		t.Fatal(err)
	}
	if err := link.SetDown(); err != nil {
		t.Fatal(err)
	}
	assertions.RouteVia(t, n, "r6", "h2", "r5", assertions.IPv4())
	assertions.RouteVia(t, n, "r6", "h2", "r5", assertions.IPv6())
	// Every host still reaches every other. (Routers are pinged at their
	// first address, which for r1 and r2 is on the cut link.)
	hosts := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	assertions.Reachable(t, n, hosts)

	// And back: the short way again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := link.SetUp(ctx); err != nil {
		t.Fatal(err)
	}
	assertions.RouteVia(t, n, "r6", "h2", "r1", assertions.IPv4())
	assertions.RouteVia(t, n, "r6", "h2", "r1", assertions.IPv6())
	assertions.Reachable(t, n, nil) // every host and router, the cut link's ends too
}
