package assertions_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/nettest"
)

// scaleEnv, set to 1, runs TestReachableScale.
const scaleEnv = "NETTEST_SCALE"

// TestReachableLAN200 is Mininet's pingall on 200 hosts of one LAN, IPv4:
// 39,800 pings. Sent all at once they failed by the dozen ("sendto: no
// buffer space available"): the host-wide neighbour table was full, and
// later the CPUs' input backlogs (see lanBuilder for the rest). Each ping
// waits up to 5s, not 1s: on a CI machine shared with other jobs the
// kernel itself sometimes answers a few of 39,800 late.
func TestReachableLAN200(t *testing.T) {
	reachableLAN(t, 200, false, false, time.Minute, assertions.Timeout(5*time.Second))
}

// TestReachableScale is pingall on one LAN of each size in
// NETTEST_SCALE_SIZES (default "1000"; IPv4 only, or IPv4 and IPv6 for a
// size written "200v6"), run with NETTEST_SCALE=1. It logs the build time,
// the check's time, the memory the machine lost meanwhile and the packets
// its CPUs dropped. NETTEST_SCALE_FIXTURE=1 builds fixtures.LAN as it is,
// IPv6 link-local traffic included (see lanBuilder).
func TestReachableScale(t *testing.T) {
	if os.Getenv(scaleEnv) != "1" {
		t.Skipf("skipping: set %s=1 to run (1,000 hosts: minutes)", scaleEnv)
	}
	sizes := strings.Fields(os.Getenv("NETTEST_SCALE_SIZES"))
	if len(sizes) == 0 {
		sizes = []string{"1000"}
	}
	fixture := os.Getenv("NETTEST_SCALE_FIXTURE") == "1"
	for _, s := range sizes {
		v6 := strings.HasSuffix(s, "v6")
		hosts, err := strconv.Atoi(strings.TrimSuffix(s, "v6"))
		if err != nil {
			t.Fatalf("NETTEST_SCALE_SIZES: %q: want a number of hosts, with v6 after it for both families", s)
		}
		t.Run(s, func(t *testing.T) { reachableLAN(t, hosts, v6, fixture, 2*time.Minute) })
	}
}

// lanBuilder is fixtures.LAN's topology. IPv4 only, its hosts have IPv6
// off unless fixture is set: otherwise each still configures an IPv6
// link-local address (duplicate address detection, MLD reports, router
// solicitations, some repeated for seconds after Build), multicast frames
// the switch floods to every port: O(hosts²) frames, 200,000 on 200 hosts
// during the check, which overflowed the CPUs' input backlogs (1000
// packets each) and lost pings.
func lanBuilder(t testing.TB, hosts int, v6, fixture bool) *nettest.Builder {
	var opts []fixtures.ShapeOption
	if !v6 {
		opts = append(opts, fixtures.IPv4Only())
	}
	b, err := fixtures.LANBuilder(hosts, opts...)
	require.NoError(t, err)
	if !v6 && !fixture {
		for i := 1; i <= hosts; i++ {
			b.Sysctl(fmt.Sprintf("h%d", i), "net.ipv6.conf.all.disable_ipv6", "1")
		}
	}
	return b
}

// reachableLAN builds a LAN of the given hosts, checks Reachable on it
// within limit, and logs the times and memory.
func reachableLAN(t *testing.T, hosts int, v6, fixture bool, limit time.Duration, opts ...assertions.PingOption) {
	fixtures.RequirePrivilege(t)
	memBefore := memAvailable(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := lanBuilder(t, hosts, v6, fixture).Build(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	built := time.Since(start)
	memBuilt := memAvailable(t)
	drops := backlogDrops()
	start = time.Now()
	ok := assertions.Reachable(t, n, nil, opts...)
	took := time.Since(start)
	t.Logf("LAN of %d hosts (IPv6: %v, fixture as is: %v): built in %v (%d MiB), Reachable (passed: %v) in %v (%d MiB more); packets the host's CPUs dropped meanwhile: %d",
		hosts, v6, fixture, built.Round(time.Millisecond), (memBefore-memBuilt)>>20, ok, took.Round(time.Millisecond),
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
