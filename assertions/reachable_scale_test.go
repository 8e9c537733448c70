package assertions_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/fixtures"
)

// scaleEnv, set to 1, runs TestReachableScale's large sizes.
const scaleEnv = "NETTEST_SCALE"

// TestReachableLAN200 is Mininet's pingall on 200 hosts of one LAN, IPv4:
// 39,800 pings. Sent all at once they once failed by the dozen ("sendto: no
// buffer space available"): the host-wide neighbour table was full.
func TestReachableLAN200(t *testing.T) {
	reachableLAN(t, 200, false, time.Minute)
}

// TestReachableScale is pingall on one LAN of NETTEST_SCALE_SIZES hosts
// (default "1000"; IPv4, or IPv4 and IPv6 for a size written "200v6"), with
// NETTEST_SCALE=1. It logs the build time, the check's time and the memory
// the machine lost meanwhile.
func TestReachableScale(t *testing.T) {
	if os.Getenv(scaleEnv) != "1" {
		t.Skipf("skipping: set %s=1 to run (1,000 hosts: about two minutes)", scaleEnv)
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
func reachableLAN(t *testing.T, hosts int, v6 bool, limit time.Duration) {
	fixtures.RequirePrivilege(t)
	memBefore := memAvailable(t)
	start := time.Now()
	var opts []fixtures.ShapeOption
	if !v6 {
		opts = append(opts, fixtures.IPv4Only())
	}
	n := fixtures.LAN(t, hosts, opts...)
	built := time.Since(start)
	memBuilt := memAvailable(t)
	drops := backlogDrops()
	start = time.Now()
	var ropts []assertions.PingOption
	if d, err := time.ParseDuration(os.Getenv("NETTEST_SCALE_TIMEOUT")); err == nil {
		ropts = append(ropts, assertions.Timeout(d))
	}
	ok := assertions.Reachable(t, n, nil, ropts...)
	took := time.Since(start)
	t.Logf("LAN of %d hosts (IPv6: %v): built in %v (%d MiB), Reachable (%v) in %v (%d MiB more); packets the host's CPUs dropped meanwhile: %d",
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
	if err != nil {
		t.Fatal(err)
	}
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
