package nettest_test

// Benchmarks of the engine against baselines measured in the same run (see
// baseline_test.go). Each size has sub-benchmarks impl=netlink (direct
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
//
// Besides ns/op each reports netns/op, veths/op and routes/op (the work
// done, equal across impls) and max-ms: the slowest single operation, which
// shows a linkwatch stall (~1s) should one happen.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// benchOp is one operation's work and what it reports.
type benchOp func(b *testing.B) (netns, veths, routes int)

// benchRun times op b.N times, reporting the work done per op and the
// slowest op. Each op builds and tears down its whole topology.
func benchRun(b *testing.B, op benchOp) {
	b.Helper()
	var slowest time.Duration
	var netns, veths, routes int
	benchSettle(b)
	for b.Loop() {
		start := time.Now()
		netns, veths, routes = op(b)
		slowest = max(slowest, time.Since(start))
	}
	b.ReportMetric(float64(netns), "netns/op")
	b.ReportMetric(float64(veths), "veths/op")
	b.ReportMetric(float64(routes), "routes/op")
	b.ReportMetric(float64(slowest)/float64(time.Millisecond), "max-ms")
}

// benchSettle waits, untimed, until the machine's CPUs have been mostly idle
// for 150ms (at most 5s). The kernel destroys released namespaces later, on
// a work queue; this keeps that work from one sub-benchmark (and the previous
// benchmark) from being billed to the next. Within a sub-benchmark, ops run
// back to back and each pays for its predecessors' cleanup, as in a test
// suite.
func benchSettle(b *testing.B) {
	b.Helper()
	const window, idleBelow, quietWindows = 50 * time.Millisecond, 0.2, 3
	deadline := time.Now().Add(5 * time.Second)
	busy0, total0, err := benchCPUStat()
	if err != nil {
		b.Logf("not settling: %v", err)
		return
	}
	quiet := 0
	for quiet < quietWindows && time.Now().Before(deadline) {
		time.Sleep(window)
		busy1, total1, err := benchCPUStat()
		if err != nil {
			return
		}
		if total1 > total0 && float64(busy1-busy0)/float64(total1-total0) < idleBelow {
			quiet++
		} else {
			quiet = 0
		}
		busy0, total0 = busy1, total1
	}
	if quiet < quietWindows {
		b.Logf("CPUs still busy after 5s (other load on the machine?); going on")
	}
}

// benchCPUStat returns the busy and total jiffies of all CPUs (/proc/stat).
func benchCPUStat() (busy, total uint64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// benchNettest builds the chain with nettest, pings h1 -> h2 when
// addressed, and closes it.
func benchNettest(routers int, addrs bool) benchOp {
	routes := -1
	return func(b *testing.B) (int, int, int) {
		// No deadline (Build bounds its wait for readiness itself): a timer
		// would park an idle thread in epoll, where every netlink reply wakes
		// it, a cost the baseline would not share.
		n, err := benchChain(routers, addrs).Build(context.Background())
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
		if addrs {
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

// benchNetlink does the same with direct netlink calls (blChain).
func benchNetlink(routers int, addrs bool) benchOp {
	return func(b *testing.B) (int, int, int) {
		t, err := blChain(routers, addrs)
		if err != nil {
			b.Fatal(err)
		}
		if addrs {
			if _, err := blPing(t.nss[0], t.dst, benchPingTimeout); err != nil {
				t.close()
				b.Fatal(err)
			}
		}
		if err := t.close(); err != nil {
			b.Fatal(err)
		}
		return routers + 2, routers + 1, t.routes
	}
}

// benchSizes runs the netlink baseline, then nettest (the baseline first, so
// that benchstat -col /impl shows nettest as a change from it).
func benchSizes(b *testing.B, routers int, addrs bool) {
	testenv.RequirePrivilege(b)
	b.Run("impl=netlink", func(b *testing.B) { benchRun(b, benchNetlink(routers, addrs)) })
	b.Run("impl=nettest", func(b *testing.B) { benchRun(b, benchNettest(routers, addrs)) })
}

// BenchmarkPair: two hosts joined by a veth pair, IPv4 addressed, one ping
// from one to the other, teardown.
func BenchmarkPair(b *testing.B) {
	benchSizes(b, 0, true)
	b.Run("impl=shell", func(b *testing.B) {
		blShellTools(b)
		failed := 0
		benchRun(b, func(b *testing.B) (int, int, int) {
			if err := blShellPair(); err != nil {
				if !errors.Is(err, errShellPing) {
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
func BenchmarkChain100(b *testing.B) { benchSizes(b, 100, true) }

// BenchmarkChain1000: h1 - r1 - ... - r1000 - h2 without addresses: build
// until every interface is up, teardown.
func BenchmarkChain1000(b *testing.B) { benchSizes(b, 1000, false) }
