package examples_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/assertions/must"
	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// OSPF timers of the example: hellos every second, a neighbour declared
// dead after four silent seconds.
const (
	ospfHello = 1 * time.Second
	ospfDead  = 4 * time.Second
)

// birdOSPF is a BIRD 2 configuration running OSPFv2 (IPv4) and OSPFv3
// (IPv6) on every interface of a router, and installing what it learns in
// the router's kernel (the router's own namespace, not the host's). It is
// a text/template: each router fills in its own router-id.
var birdOSPF = fmt.Sprintf(`router id {{.RouterID}};
log stderr all;
protocol device { scan time 1; }
protocol kernel { ipv4 { export all; }; }
protocol kernel { ipv6 { export all; }; }
protocol ospf v2 {
	ipv4 { import all; export none; };
	area 0 { interface "eth*" { type ptp; hello %d; dead %d; }; };
}
protocol ospf v3 {
	ipv6 { import all; export none; };
	area 0 { interface "eth*" { type ptp; hello %d; dead %d; }; };
}
`, int(ospfHello.Seconds()), int(ospfDead.Seconds()), int(ospfHello.Seconds()), int(ospfDead.Seconds()))

// TestOSPFReconverges runs BIRD on five routers in a ring, each with a host:
//
//	     h1
//	     │
//	┌─── r1 ───┐
//	r5         r2 ── h2
//	│          │
//	r4 ─────── r3 ── h3
//	(h4, h5 on r4, r5)
//
// The harness gives the addresses; OSPF, not the harness, makes the routes.
// It waits for convergence (r1 reaches h3 through r2, two hops, not three
// through r5), cuts r1-r2, and requires r1 to reroute through r5 within the
// dead interval plus a margin, with h1 still reaching h3.
func TestOSPFReconverges(t *testing.T) {
	testenv.RequireTools(t, "bird", "birdc")
	t.Parallel()
	const routers = 5
	n := fixtures.Ring(t, routers, fixtures.NoAutoRoutes(), fixtures.With(func(b *nettest.Builder) {
		for i := 1; i <= routers; i++ {
			b.Route("h"+strconv.Itoa(i), "default via r"+strconv.Itoa(i))
		}
	}))

	// BIRD in every router, with its default paths in the router's own
	// /etc and /run: nothing is written to the host's.
	var r1 *nettest.Daemon
	for i := 1; i <= routers; i++ {
		d := fixtures.BIRD(t, n, "r"+strconv.Itoa(i), birdOSPF)
		if i == 1 {
			r1 = d
		}
	}

	// Convergence: r1's route to h3 goes through r2, on both families.
	for _, family := range []assertions.Option{assertions.IPv4(), assertions.IPv6()} {
		must.RouteVia(t, n, "r1", "h3", "r2", family, assertions.Within(30*time.Second))
	}
	must.RouteProto(t, n, "r1", "h3", "bird") // installed by BIRD, not the harness
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// BIRD's own view, through birdc: r1's neighbours r2 and r5 are full,
	// in OSPFv2 and v3 (the one to r5 may still be loading: ask again).
	daemonSays(ctx, t, r1, "show ospf neighbors", "r2 and r5 full in OSPFv2 and v3", func(out string) bool {
		return strings.Count(out, "Full/PtP") == 4
	})
	must.Ping(t, n, "h1", "h3", assertions.Within(5*time.Second))

	// Cut r1-r2; OSPF finds the way round through r5.
	link, err := n.Link("r1-r2")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := link.SetDown(); err != nil {
		t.Fatal(err)
	}
	// The dead interval plus a margin. BIRD notices the link go down at once,
	// but OSPF lets a router send a new version of its LSA only 5s after the
	// last (MinLSInterval), which may have been moments ago.
	deadline := ospfDead + 3*time.Second
	assertions.RouteVia(t, n, "r1", "h3", "r5", assertions.IPv4(), assertions.Within(deadline))
	assertions.RouteVia(t, n, "r1", "h3", "r5", assertions.IPv6(), assertions.Within(deadline))
	t.Logf("r1 rerouted to h3 through r5 after %v", time.Since(start).Round(time.Millisecond))
	assertions.Ping(t, n, "h1", "h3", assertions.Within(deadline))
}
