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
//	BenchmarkChain10000 h1 - r1 - ... - r10000 - h2, IPv4 auto /30s, no
//	                    routes: build, teardown, against the baseline that
//	                    spares descriptors (baseline.ChainFrugal: one
//	                    thread, one descriptor per namespace, netlink
//	                    sockets only while a node is configured)
//	BenchmarkChain50000 h1 - r1 - ... - r50000 - h2, IPv4 auto /31s, no
//	                    routes, nettest alone: build, teardown
//
// The large chains (run them with -benchtime=1x) also report KB/node (what
// the built network took from MemAvailable, per node), close-ms (the Close
// call), teardown-s (from Close until the kernel has freed the namespaces,
// which it does later, on a work queue: the net_namespace slab's count is
// back) and, for nettest, fds-max (the most descriptors the process had
// open while building).
//
// Besides ns/op each reports netns/op, veths/op and routes/op (the work
// done, equal across impls) and max-ms: the slowest single operation, which
// shows a linkwatch stall (~1s) should one happen. Sizes with routes report
// routes-ms too: the part of ns/op spent installing them.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// BenchmarkChain10000: h1 - r1 - ... - r10000 - h2 with IPv4 auto /30s and
// no routes, built until ready and closed, against the baseline that
// spares descriptors (the one that holds a descriptor and sockets per
// namespace cannot build it under a limit of 20,000 open files).
func BenchmarkChain10000(b *testing.B) {
	benchLarge(b, 10000, true, nettest.Auto{IPv4: true})
}

// BenchmarkChain50000: h1 - r1 - ... - r50000 - h2 with IPv4 auto /31s
// from 10.0.0.0/8 (the default pool holds 16,384 /30s or 32,768 /31s) and
// no routes, built and closed by nettest alone.
func BenchmarkChain50000(b *testing.B) {
	benchLarge(b, 50000, false, nettest.Auto{IPv4: true, IPv4LinkBits: 31, IPv4Links: netip.MustParsePrefix("10.0.0.0/8")})
}

// benchLarge runs a large chain: the frugal baseline (with withBaseline),
// then nettest.
func benchLarge(b *testing.B, routers int, withBaseline bool, auto nettest.Auto) {
	testenv.RequirePrivilege(b)
	nodes := routers + 2
	// The kernel takes about 270 KB a node; leave room for the rest.
	if avail := memAvailable(b); avail < int64(nodes)*400<<10 {
		b.Skipf("skipping: %d nodes need about %d MB of memory, and %d MB are available", nodes, nodes*400>>10, avail>>20)
	}
	if withBaseline {
		b.Run("impl=netlink", func(b *testing.B) {
			requireOpenFiles(b, nodes+512, "the baseline holds a descriptor per namespace")
			runLarge(b, nodes, func() (func() error, error) {
				t, err := baseline.ChainFrugal(routers, true)
				if err != nil {
					return nil, err
				}
				return t.Close, nil
			})
		})
	}
	b.Run("impl=nettest", func(b *testing.B) {
		requireOpenFiles(b, 1024, "nettest keeps at most an eighth of the limit for its nodes' sockets")
		peak, last, start, shown := 0, time.Time{}, time.Now(), time.Now()
		sample := func(p nettest.Progress) {
			if time.Since(last) < 50*time.Millisecond {
				return
			}
			last = time.Now()
			peak = max(peak, openFiles(b))
			if time.Since(shown) >= 10*time.Second {
				// A long run shows how far it is, on stderr.
				shown = time.Now()
				fmt.Fprintf(os.Stderr, "%s: %s %d/%d after %.0fs, %d descriptors open\n", b.Name(), p.Stage, p.Done, p.Total, time.Since(start).Seconds(), openFiles(b))
			}
		}
		runLarge(b, nodes, func() (func() error, error) {
			ctx := nettest.WithProgress(context.Background(), sample)
			n, err := benchChainAuto(routers, auto).Build(ctx)
			if err != nil {
				return nil, err
			}
			peak = max(peak, openFiles(b))
			return n.Close, nil
		})
		b.ReportMetric(float64(peak), "fds-max")
	})
}

// benchChainAuto describes h1 - r1 - ... - rN - h2 with the given automatic
// addressing and routing.
func benchChainAuto(routers int, auto nettest.Auto) *nettest.Builder {
	b := nettest.NewBuilder("big").Auto(auto).Host("h1")
	ends := make([]string, 0, routers+2)
	ends = append(ends, "h1")
	for i := 1; i <= routers; i++ {
		r := "r" + strconv.Itoa(i)
		b.Router(r)
		ends = append(ends, r)
	}
	b.Host("h2")
	return b.Chain(append(ends, "h2")...)
}

// runLarge times build and Close b.N times and reports, from the last
// op, the memory the built topology took per node, how long Close took
// and how long until that memory was available again.
func runLarge(b *testing.B, nodes int, build func() (close func() error, err error)) {
	baseline.Settle(b)
	var kb, closeMS, teardown float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before, nsBefore := memAvailable(b), netNamespaces()
		b.StartTimer()
		closeFn, err := build()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		after := memAvailable(b)
		b.StartTimer()
		start := time.Now()
		if err := closeFn(); err != nil {
			b.Fatal(err)
		}
		closeMS = float64(time.Since(start)) / float64(time.Millisecond)
		b.StopTimer()
		used := before - after
		kb = float64(used) / 1024 / float64(nodes)
		// Torn down once the kernel has freed the namespaces (all but 5%:
		// others may make namespaces meanwhile) or, where the count is not
		// to be had, once 90% of the memory is back (other work on the
		// machine moves that figure too).
		deadline := start.Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			if nsBefore >= 0 {
				if netNamespaces() <= nsBefore+nodes/20 {
					break
				}
			} else if memAvailable(b) >= after+used*9/10 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		teardown = time.Since(start).Seconds()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(nodes), "netns/op")
	b.ReportMetric(kb, "KB/node")
	b.ReportMetric(closeMS, "close-ms")
	b.ReportMetric(teardown, "teardown-s")
}

// netNamespaces returns how many network namespaces the kernel has
// allocated (the net_namespace slab's active objects: namespaces being
// destroyed count until they are freed), or -1 when /proc/slabinfo does
// not tell.
func netNamespaces() int {
	data, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) > 1 && string(f[0]) == "net_namespace" {
			if n, err := strconv.Atoi(string(f[1])); err == nil {
				return n
			}
		}
	}
	return -1
}

// memAvailable returns MemAvailable from /proc/meminfo, in bytes.
func memAvailable(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemAvailable: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	b.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// requireOpenFiles fails the benchmark, saying how to fix it, when the
// soft limit on open files is below need.
func requireOpenFiles(b *testing.B, need int, why string) {
	b.Helper()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatal(err)
	}
	if rl.Cur < uint64(need) {
		b.Fatalf("needs %d open files (%s), and ulimit -n is %d (hard limit %d): run `ulimit -n %d` first (scripts/bench raises it to the hard limit)", need, why, rl.Cur, rl.Max, min(rl.Max, 20000))
	}
}

// openFiles counts the process's open descriptors.
func openFiles(b *testing.B) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(fds)
}
