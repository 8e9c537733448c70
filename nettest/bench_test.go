package nettest_test

// Benchmarks of the engine against baselines measured in the same run (see
// internal/baseline). Each size has sub-benchmarks impl=netlink (direct
// netlink/netns calls: the kernel's own cost), impl=nettest and, for the
// pair, impl=shell (the seed tutorial's `ip netns` sequence), so that
//
//	benchstat -col /impl bench.txt
//
// shows them side by side. scripts/bench runs them in interleaved rounds
// (go test -count repeats each sub-benchmark in a row, without interleaving).
//
// Both sides do the same work: the same namespaces, veth pairs (one end at
// index 1000, see nettest's firstIndex), addresses and routes, and both wait
// for operstate UP on every veth end before the ping. The baseline writes
// only the sysctls the job needs (ip_forward on routers, ping_group_range on
// the pinging host, ip_default_ttl on Chain100's hosts); nettest writes its
// own set in every namespace, which is part of what is measured.
//
// Sizes:
//
//	BenchmarkPair       h1 - h2: build, one ping, teardown
//	BenchmarkChain100   h1 - r1 - ... - r100 - h2, IPv4 auto addresses and
//	                    routes (a route on every node to every subnet it is
//	                    not on: 100*101 = 10100 routes): build, one ping
//	                    h1 -> h2, teardown. 101 hops outlive the default
//	                    TTL of 64, so both hosts get ip_default_ttl=255
//	                    (on both sides).
//	BenchmarkChain1000  h1 - r1 - ... - r1000 - h2, no addresses: build
//	                    (until every interface is up), teardown
//	BenchmarkChainRoutes1000
//	                    h1 - r1 - ... - r1000 - h2, IPv4 auto addresses
//	                    and routes (1002*999+2 = 1,001,000 routes): build,
//	                    teardown; no ping (1001 hops outlive any TTL). The
//	                    baseline installs the routes one RTM_NEWROUTE call
//	                    per route, as the netlink library offers them.
//	BenchmarkReroute100 (no baseline) a ring of 100 routers, a host on
//	                    each, IPv4 and IPv6 auto addresses and routes:
//	                    ns/op is Link.SetDown of one ring link, every
//	                    route on every node following before it returns;
//	                    up-ms is Link.SetUp (its wait for readiness
//	                    included), untimed otherwise.
//
// Besides ns/op each reports netns/op, veths/op and routes/op (the work
// done, equal across impls) and max-ms: the slowest single operation, which
// shows a linkwatch stall (~1s) should one happen. Sizes with routes report
// routes-ms too: the part of ns/op spent installing them.

import (
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/baseline"
	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

const benchPingTimeout = 2 * time.Second

// benchChain describes h1 - r1 - ... - rN - h2 with nettest's builder.
// With addrs, IPv4 auto addressing and auto routes; else nothing automatic.
func benchChain(routers int, addrs bool) *nettest.Builder {
	b := nettest.NewBuilder("bench")
	if addrs {
		b.Auto(nettest.Auto{IPv4: true, Routes: true})
	} else {
		b.Auto(nettest.Auto{})
	}
	ends := make([]string, 0, routers+2)
	ends = append(ends, "h1")
	b.Host("h1")
	for i := 1; i <= routers; i++ {
		r := "r" + strconv.Itoa(i)
		b.Router(r)
		ends = append(ends, r)
	}
	b.Host("h2")
	ends = append(ends, "h2")
	if addrs && routers > 0 {
		// An echo across more than 63 routers outlives the default TTL of 64:
		// both hosts send with TTL 255 (the baseline writes the same).
		b.Sysctl("h1", "net.ipv4.ip_default_ttl", "255")
		b.Sysctl("h2", "net.ipv4.ip_default_ttl", "255")
	}
	return b.Chain(ends...)
}

// benchNettest builds the chain with nettest, pings h1 -> h2 when
// addressed, and closes it.
func benchNettest(routers int, addrs, ping bool, routeT *time.Duration) baseline.Op {
	routes := -1
	return func(b *testing.B) (int, int, int) {
		// No deadline (Build bounds its wait for readiness itself): a timer
		// would park an idle thread in epoll, where every netlink reply wakes
		// it, a cost the baseline would not share. The progress callback
		// times the routes stage: from its first report to the next stage's.
		var start time.Time
		ctx := nettest.WithProgress(context.Background(), func(p nettest.Progress) {
			switch {
			case p.Stage == "routes" && start.IsZero():
				start = time.Now()
			case p.Stage == "ready" && !start.IsZero():
				*routeT += time.Since(start)
				start = time.Time{}
			}
		})
		n, err := benchChain(routers, addrs).Build(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if routes < 0 {
			// Count the routes nettest installed (automatic ones included)
			// once, untimed: the count is the same for every op.
			b.StopTimer()
			routes = 0
			for _, node := range n.Nodes() {
				routes += len(node.Routes())
			}
			b.StartTimer()
		}
		if ping {
			if err := benchPing(n, "h1", "h2"); err != nil {
				n.Close()
				b.Fatal(err)
			}
		}
		if err := n.Close(); err != nil {
			b.Fatal(err)
		}
		return routers + 2, routers + 1, routes
	}
}

// benchPing pings from's node to to's first IPv4 address with icmpping.
func benchPing(n *nettest.Network, from, to string) error {
	src, err := n.Node(from)
	if err != nil {
		return err
	}
	dst, err := n.Addr(to, nettest.IPv4)
	if err != nil {
		return err
	}
	_, err = icmpping.Ping(src, dst, benchPingTimeout)
	return err
}

// benchNetlink does the same with direct netlink calls (baseline.Chain).
func benchNetlink(routers int, addrs, ping bool, routeT *time.Duration) baseline.Op {
	return func(b *testing.B) (int, int, int) {
		t, err := baseline.Chain(routers, addrs)
		if err != nil {
			b.Fatal(err)
		}
		*routeT += t.RouteTime()
		if ping {
			if err := t.Ping(benchPingTimeout); err != nil {
				t.Close()
				b.Fatal(err)
			}
		}
		if err := t.Close(); err != nil {
			b.Fatal(err)
		}
		return routers + 2, routers + 1, t.Routes()
	}
}

// benchSizes runs the netlink baseline, then nettest (the baseline first, so
// that benchstat -col /impl shows nettest as a change from it). With ping
// (addrs needed), h1 pings h2 after the build. With addrs, routes-ms is the
// time spent installing the routes (part of ns/op).
func benchSizes(b *testing.B, routers int, addrs, ping bool) {
	testenv.RequirePrivilege(b)
	run := func(b *testing.B, op func(routeT *time.Duration) baseline.Op) {
		var routeT time.Duration
		baseline.Run(b, op(&routeT))
		if addrs {
			b.ReportMetric(float64(routeT)/float64(time.Millisecond)/float64(b.N), "routes-ms")
		}
	}
	b.Run("impl=netlink", func(b *testing.B) {
		run(b, func(d *time.Duration) baseline.Op { return benchNetlink(routers, addrs, ping, d) })
	})
	b.Run("impl=nettest", func(b *testing.B) {
		run(b, func(d *time.Duration) baseline.Op { return benchNettest(routers, addrs, ping, d) })
	})
}

// BenchmarkPair: two hosts joined by a veth pair, IPv4 addressed, one ping
// from one to the other, teardown.
func BenchmarkPair(b *testing.B) {
	benchSizes(b, 0, true, true)
	b.Run("impl=shell", func(b *testing.B) {
		baseline.RequireShellTools(b)
		failed := 0
		baseline.Run(b, func(b *testing.B) (int, int, int) {
			if err := baseline.ShellPair(); err != nil {
				if !errors.Is(err, baseline.ErrShellPing) {
					b.Fatal(err)
				}
				if failed++; failed == 1 {
					b.Logf("shell ping failed (not retried; counted in pingfail/op): %v", err)
				}
			}
			return 2, 1, 0
		})
		b.ReportMetric(float64(failed)/float64(b.N), "pingfail/op")
	})
}

// BenchmarkChain100: h1 - r1 - ... - r100 - h2 with IPv4 auto addressing and
// routes, one ping end to end, teardown.
func BenchmarkChain100(b *testing.B) { benchSizes(b, 100, true, true) }

// BenchmarkChain1000: h1 - r1 - ... - r1000 - h2 without addresses: build
// until every interface is up, teardown.
func BenchmarkChain1000(b *testing.B) { benchSizes(b, 1000, false, false) }

// BenchmarkChainRoutes1000: h1 - r1 - ... - r1000 - h2 with IPv4 auto
// addressing and routes (a million of them), build and teardown.
func BenchmarkChainRoutes1000(b *testing.B) { benchSizes(b, 1000, true, false) }

// BenchmarkReroute100: on a ring of 100 routers with a host each and
// automatic routes in both families, ns/op is one Link.SetDown, which
// returns once every node's routes follow; cpu-ms is the CPU time the
// process spent in it (user and system: the kernel installs the routes in
// the sending thread), which a busy machine inflates less than ns/op;
// up-ms is the Link.SetUp after it.
func BenchmarkReroute100(b *testing.B) {
	testenv.RequirePrivilege(b)
	n := ring(b, 100, allAuto)
	cut, err := n.Link("r1-r2")
	if err != nil {
		b.Fatal(err)
	}
	var up, cpu time.Duration
	for b.Loop() {
		cpu0 := cpuTime()
		if err := cut.SetDown(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		t0 := time.Now()
		if err := cut.SetUp(context.Background()); err != nil {
			b.Fatal(err)
		}
		up += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms")
	b.ReportMetric(float64(up)/float64(time.Millisecond)/float64(b.N), "up-ms")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
