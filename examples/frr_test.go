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

// frrOSPF is an frr.conf for every router of a ring: OSPFv2 (IPv4) and
// OSPFv3 (IPv6) on every interface, hellos every second, a neighbour dead
// after four silent ones, and no throttling of SPF runs and LSAs beyond
// 500ms (FRR's defaults let a router wait up to 5s after a recent change).
// It is a text/template: each router fills in its own name, router-id and
// interfaces.
const frrOSPF = `frr defaults traditional
hostname {{.Name}}
{{range .Interfaces}}interface {{.Name}}
 ip ospf network point-to-point
 ip ospf hello-interval 1
 ip ospf dead-interval 4
 ipv6 ospf6 area 0
 ipv6 ospf6 network point-to-point
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 4
{{end}}router ospf
 ospf router-id {{.RouterID}}
 timers throttle spf 0 50 500
 timers throttle lsa all 0
 timers lsa min-arrival 0
{{range .Interfaces}}{{range .IPv4}} network {{.Masked}} area 0
{{end}}{{end}}router ospf6
 ospf6 router-id {{.RouterID}}
 timers throttle spf 0 50 500
 timers lsa min-arrival 0
`

// TestFRROSPFRing runs FRR (zebra, ospfd, ospf6d) on a ring of four
// routers, each with a host:
//
//	     h1
//	     │
//	┌─── r1 ───┐
//	r4         r2 ── h2
//	│          │
//	└── r3 ────┘
//	(h3, h4 on r3, r4)
//
// The harness gives the addresses and no routes; OSPF makes them. One call
// per router starts FRR with its default paths, in the router's own /etc,
// /run and /var/tmp. The test waits for the network to converge (every
// host reaches every other, v4 and v6), cuts r1-r2 and waits for r1 to
// reach h2 the other way round (through r4), then brings the link back and
// waits for the short way again.
func TestFRROSPFRing(t *testing.T) {
	testenv.RequireFRR(t, "ospfd", "ospf6d")
	t.Parallel()
	const routers = 4
	n := fixtures.Ring(t, routers, fixtures.NoAutoRoutes(), fixtures.With(func(b *nettest.Builder) {
		for i := 1; i <= routers; i++ {
			b.Route("h"+strconv.Itoa(i), "default via r"+strconv.Itoa(i))
		}
	}))

	start := time.Now()
	r1 := fixtures.FRR(t, n, "r1", frrOSPF, "ospfd", "ospf6d")
	for i := 2; i <= routers; i++ {
		fixtures.FRR(t, n, "r"+strconv.Itoa(i), frrOSPF, "ospfd", "ospf6d")
	}
	t.Logf("FRR ready on %d routers after %v", routers, time.Since(start).Round(time.Millisecond))
	must.Converged(t, n, assertions.Settle(2*time.Second), assertions.Within(60*time.Second))
	t.Logf("converged %v after starting FRR (including the 2s settle time)", time.Since(start).Round(time.Millisecond))
	must.RouteProto(t, n, "r1", "h3", "ospf", assertions.IPv4())
	must.RouteProto(t, n, "r1", "h3", "ospf", assertions.IPv6())
	must.RouteVia(t, n, "r1", "h2", "r2")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// FRR's own view, through vtysh: r1's two neighbours are full (the
	// routes may settle while one is still loading: ask again).
	daemonSays(ctx, t, r1, "show ip ospf neighbor", "r1's neighbours r2 and r4 full", func(out string) bool {
		return strings.Count(out, "Full/") == 2
	})

	// Failover: r1-r2 goes down; OSPF sees the interfaces go down at once
	// and routes round the ring.
	link, err := n.Link("r1-r2")
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := link.SetDown(); err != nil {
		t.Fatal(err)
	}
	must.RouteVia(t, n, "r1", "h2", "r4", assertions.Within(15*time.Second))
	t.Logf("failover: r1 routes to h2 through r4 (v4 and v6) %v after the cut", time.Since(cut).Round(time.Millisecond))
	must.Converged(t, n, assertions.Settle(2*time.Second), assertions.Within(30*time.Second))
	t.Logf("failover: converged %v after the cut (including the 2s settle time)", time.Since(cut).Round(time.Millisecond))

	// Recovery: the link comes back; once the neighbours are full again
	// (a hello or two), r1 takes the short way again.
	back := time.Now()
	upCtx, cancelUp := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelUp()
	if err := link.SetUp(upCtx); err != nil {
		t.Fatal(err)
	}
	must.RouteVia(t, n, "r1", "h2", "r2", assertions.Within(30*time.Second))
	t.Logf("recovery: r1 routes to h2 through r2 again %v after the link came up", time.Since(back).Round(time.Millisecond))
	must.Converged(t, n, assertions.Settle(2*time.Second), assertions.Within(30*time.Second))
}

// frrBGP is the frr.conf of an eBGP router: its AS, one session to the
// router named peer in AS peerAS (the address comes from the topology,
// through the template's .Neighbors), and its connected subnets announced.
// Timers are short so that the session comes up in seconds.
func frrBGP(as int, peer string, peerAS int) string {
	return fmt.Sprintf(`frr defaults traditional
hostname {{.Name}}
router bgp %d
 bgp router-id {{.RouterID}}
 no bgp ebgp-requires-policy
 no bgp network import-check
{{range .Neighbors}}{{if eq .Node %q}} neighbor {{.IPv4}} remote-as %d
 neighbor {{.IPv4}} timers 1 3
 neighbor {{.IPv4}} timers connect 1
 neighbor {{.IPv4}} advertisement-interval 0
{{end}}{{end}} address-family ipv4 unicast
  redistribute connected
 exit-address-family
`, as, peer, peerAS)
}

// TestFRRBGP runs eBGP between two routers in two ASes, each with a host
// behind it: h1 - r1 (AS 65001) - r2 (AS 65002) - h2. Each router learns
// the other's host subnet from BGP (proto bgp in its kernel), and the
// hosts reach each other.
func TestFRRBGP(t *testing.T) {
	testenv.RequireFRR(t, "bgpd")
	t.Parallel()
	n := fixtures.Chain(t, 2, fixtures.NoAutoRoutes(), fixtures.IPv4Only(), fixtures.With(func(b *nettest.Builder) {
		b.Route("h1", "default via r1").Route("h2", "default via r2")
	}))
	start := time.Now()
	r1 := fixtures.FRR(t, n, "r1", frrBGP(65001, "r2", 65002), "bgpd")
	fixtures.FRR(t, n, "r2", frrBGP(65002, "r1", 65001), "bgpd")
	must.RouteProto(t, n, "r1", "h2", "bgp", assertions.Within(30*time.Second))
	must.RouteProto(t, n, "r2", "h1", "bgp", assertions.Within(10*time.Second))
	t.Logf("BGP routes installed %v after starting FRR", time.Since(start).Round(time.Millisecond))
	must.Ping(t, n, "h1", "h2")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	daemonSays(ctx, t, r1, "show bgp ipv4 unicast summary", "r1's peer in AS 65002", func(out string) bool {
		return strings.Contains(out, "65002")
	})
}

// daemonSays sends cmd to the daemon until its answer is as ok wants, and
// fails the test when ctx ends first.
func daemonSays(ctx context.Context, t *testing.T, d *nettest.Daemon, cmd, want string, ok func(string) bool) {
	t.Helper()
	for {
		out, err := d.Exec(ctx, cmd)
		if err == nil && ok(out) {
			return
		}
		if err != nil || ctx.Err() != nil {
			t.Fatalf("%s: %s: want %s: %v\n%s", d, cmd, want, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
