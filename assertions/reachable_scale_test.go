package assertions_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/fixtures"
)

// scaleEnv, set to 1, runs TestReachableScale.
const scaleEnv = "NETTEST_SCALE"

// TestReachableLAN200 is Mininet's pingall on 200 hosts of one LAN, IPv4:
// 39,800 pings. Sent all at once they failed by the dozen ("sendto: no
// buffer space available"): the host-wide neighbour table was full, and
// later the CPUs' input backlogs. Each ping waits up to 5s, not 1s: on a CI
// machine shared with other jobs the kernel itself sometimes answers a few
// of 39,800 late.
func TestReachableLAN200(t *testing.T) {
	reachableLAN(t, 200, false, time.Minute, assertions.Timeout(5*time.Second))
}

// TestReachableScale is pingall on one LAN of each size in
// NETTEST_SCALE_SIZES (default "1000": fixtures.LAN(t, 1000, IPv4Only()),
// 999,000 pings, within two minutes on a 2-core machine; a size written
// "200v6" has IPv4 and IPv6), run with NETTEST_SCALE=1. It logs the build
// time, the check's time, the memory the machine lost meanwhile and the
// packets its CPUs dropped. At 1,000 hosts the check failed after minutes
// of lost pings: every neighbour entry went stale within it and was probed,
// the probes the CPUs' backlogs dropped failed their entries, whose
// broadcasts the switch copied to every port, and each host's IPv6
// link-local chatter was copied likewise (see nettest's neigh.go); a socket
// per ping also cost as much as the pings.
func TestReachableScale(t *testing.T) {
	if os.Getenv(scaleEnv) != "1" {
		t.Skipf("skipping: set %s=1 to run (1,000 hosts: minutes)", scaleEnv)
	}
	sizes := strings.Fields(os.Getenv("NETTEST_SCALE_SIZES"))
	if len(sizes) == 0 {
		sizes = []string{"1000"}
	}
	for _, s := range sizes {
		v6 := strings.HasSuffix(s, "v6")
		hosts, err := strconv.Atoi(strings.TrimSuffix(s, "v6"))
		if err != nil {
			t.Fatalf("NETTEST_SCALE_SIZES: %q: want a number of hosts, with v6 after it for both families", s)
		}
		t.Run(s, func(t *testing.T) { reachableLAN(t, hosts, v6, 2*time.Minute) })
	}
}

// reachableLAN builds a LAN of the given hosts, checks Reachable on it
// within limit, and logs the times and memory.
func reachableLAN(t *testing.T, hosts int, v6 bool, limit time.Duration, opts ...assertions.PingOption) {
	fixtures.RequirePrivilege(t)
	memBefore := memAvailable(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var shape []fixtures.ShapeOption
	if !v6 {
		shape = append(shape, fixtures.IPv4Only())
	}
	b, err := fixtures.LANBuilder(hosts, shape...)
	require.NoError(t, err)
	n, err := b.Build(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	built := time.Since(start)
	memBuilt := memAvailable(t)
	drops := backlogDrops()
	start = time.Now()
	ok := assertions.Reachable(t, n, nil, opts...)
	took := time.Since(start)
	t.Logf("LAN of %d hosts (IPv6: %v): built in %v (%d MiB), Reachable (passed: %v) in %v (%d MiB more); packets the host's CPUs dropped meanwhile: %d",
		hosts, v6, built.Round(time.Millisecond), (memBefore-memBuilt)>>20, ok, took.Round(time.Millisecond),
		(memBuilt-memAvailable(t))>>20, backlogDrops()-drops)
	if took > limit {
		t.Errorf("Reachable on %d hosts took %v, want at most %v", hosts, took.Round(time.Millisecond), limit)
	}
}

// backlogDrops returns the packets the machine's CPUs dropped for a full
// input backlog (the second column of /proc/net/softnet_stat), 0 when it
// cannot say.
func backlogDrops() int64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseInt(f[1], 16, 64)
			sum += v
		}
	}
	return sum
}

// memAvailable returns MemAvailable from /proc/meminfo, in bytes.
func memAvailable(t testing.TB) int64 {
	f, err := os.Open("/proc/meminfo")
	require.NoError(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("/proc/meminfo: no MemAvailable")
	return 0
}
