package baseline

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Op is one operation's work and what it reports.
type Op func(b *testing.B) (netns, veths, routes int)

// Run times op b.N times, reporting the work done per op and the
// slowest op. Each op builds and tears down its whole topology.
func Run(b *testing.B, op Op) {
	b.Helper()
	var slowest time.Duration
	var netns, veths, routes int
	Settle(b)
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

// Settle waits, untimed, until the machine's CPUs have been mostly idle
// for 150ms (at most 5s). The kernel destroys released namespaces later, on
// a work queue; this keeps that work from one sub-benchmark (and the previous
// benchmark) from being billed to the next. Within a sub-benchmark, ops run
// back to back and each pays for its predecessors' cleanup, as in a test
// suite.
func Settle(b *testing.B) {
	b.Helper()
	const window, idleBelow, quietWindows = 50 * time.Millisecond, 0.2, 3
	deadline := time.Now().Add(5 * time.Second)
	busy0, total0, err := cpuStat()
	if err != nil {
		b.Logf("not settling: %v", err)
		return
	}
	quiet := 0
	for quiet < quietWindows && time.Now().Before(deadline) {
		time.Sleep(window)
		busy1, total1, err := cpuStat()
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

// cpuStat returns the busy and total jiffies of all CPUs (/proc/stat).
func cpuStat() (busy, total uint64, err error) {
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
