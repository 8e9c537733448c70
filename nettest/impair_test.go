package nettest_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// skipUnderRace skips a measurement under the race detector, which slows
// the userspace forwarder and the test's own senders several times.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("skipping a timing measurement under the race detector (it runs in the normal test run)")
	}
}

// impairedPair builds a - b over IPv4 only, the link impaired as asked and
// IPv6 off in both nodes, so that nothing but the test's own packets (and
// one ARP exchange) crosses the link.
func impairedPair(t *testing.T, via nettest.Mechanism, imp nettest.Impairments) (*nettest.Network, *nettest.Link) {
	t.Helper()
	testenv.RequirePrivilege(t)
	if fs := features(t); via != nettest.MechanismKernel && !fs.Supported(nettest.FeatureNetem) && !fs.Supported(nettest.FeatureTUN) {
		// Rootless, /dev/net/tun is often root's only.
		t.Skipf("skipping: the userspace link needs TUN/TAP devices: %s", fs.Status(nettest.FeatureTUN).Reason)
	}
	b := nettest.NewBuilder("impair").Auto(nettest.Auto{IPv4: true}).Host("a", "b").Link("a", "b")
	for _, node := range []string{"a", "b"} {
		b.Sysctl(node, "net.ipv6.conf.all.disable_ipv6", "1")
	}
	topo := mustTopology(t, b)
	topo.Links[0].Impair, topo.Links[0].ImpairVia = imp, via
	n := build(t, topo)
	l, err := n.Link("a-b")
	require.NoError(t, err)
	return n, l
}

// pingStats pings a -> b count times after one warm-up ping (ARP).
func pingStats(t *testing.T, n *nettest.Network, count int, interval time.Duration) nettest.PingResult {
	t.Helper()
	a, dst := node(t, n, "a"), addr(t, n, "b", nettest.IPv4)
	// Resolve the neighbour first, retrying: the ARP exchange itself may be
	// lost on an impaired link, and pings queued behind it would be too.
	for range 20 {
		if _, err := a.Ping(context.Background(), dst, nettest.PingCount(1), nettest.PingTimeout(500*time.Millisecond)); err == nil {
			break
		}
	}
	r, _ := a.Ping(context.Background(), dst, nettest.PingCount(count), nettest.PingInterval(interval), nettest.PingTimeout(time.Second))
	return r
}

func median(ds []time.Duration) time.Duration { return quantile(ds, 0.5) }

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// within reports whether got is inside want ±frac.
func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// TestImpairDelay: 20ms each way makes a median round trip of 40ms ±10%,
// with and without jitter, on the userspace link (this kernel has no netem).
func TestImpairDelay(t *testing.T) {
	skipUnderRace(t)
	for _, imp := range []nettest.Impairment{
		{Delay: 20 * time.Millisecond},
		{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond},
	} {
		t.Run(imp.String(), func(t *testing.T) {
			n, l := impairedPair(t, "", nettest.Both(imp))
			if l.Mechanism() != nettest.MechanismNetem {
				require.Equal(t, nettest.MechanismUserspace, l.Mechanism())
			}
			r := pingStats(t, n, 60, 5*time.Millisecond)
			require.Equal(t, 60, r.Received, "%v", r)
			m := median(r.RTTs)
			t.Logf("%s: median RTT %v (min %v, max %v) over %d pings", l.Mechanism(), m, r.Min(), r.Max(), r.Received)
			require.True(t, within(m.Seconds(), 0.040, 0.10), "median RTT %v, want 40ms ±10%%", m)
			// The middle half of the round trips: robust to a few late
			// samples on a loaded machine.
			iqr := quantile(r.RTTs, 0.75) - quantile(r.RTTs, 0.25)
			if imp.Jitter > 0 {
				require.GreaterOrEqual(t, r.Min(), 30*time.Millisecond-time.Millisecond)
				require.Greater(t, iqr, 2*time.Millisecond, "jitter spreads the round trips")
			} else {
				require.Less(t, iqr, 2*time.Millisecond, "no jitter, little spread")
			}
		})
	}
}

// TestImpairLoss: 10% loss one way, over 2000 pings, lands inside the
// binomial bounds (5 standard deviations), through both mechanisms this
// kernel has: an nftables rule on a veth pair, and the userspace link.
func TestImpairLoss(t *testing.T) {
	skipUnderRace(t)
	const count, p = 2000, 0.10
	for _, via := range []nettest.Mechanism{nettest.MechanismKernel, nettest.MechanismUserspace} {
		t.Run(string(via), func(t *testing.T) {
			n, l := impairedPair(t, via, nettest.Impairments{AB: nettest.Impairment{Loss: p}})
			require.Equal(t, via, l.Mechanism())
			r := pingStats(t, n, count, 500*time.Microsecond)
			lost := float64(count - r.Received)
			mean, sd := count*p, math.Sqrt(count*p*(1-p))
			t.Logf("%s: lost %v of %d (expected %v ± %.0f)", via, lost, count, mean, 5*sd)
			require.InDelta(t, mean, lost, 5*sd, "lost %v of %d, want %v ± %v", lost, count, mean, 5*sd)
		})
	}
}

// TestImpairRate: a TCP stream through a rate limit runs at that rate
// ±10% (2 and 20 Mbit/s), through tbf on a veth pair and through the
// userspace link.
func TestImpairRate(t *testing.T) {
	skipUnderRace(t)
	for _, rate := range []uint64{2e6, 20e6} {
		for _, via := range []nettest.Mechanism{nettest.MechanismKernel, nettest.MechanismUserspace} {
			t.Run(fmt.Sprintf("%s/%dMbit", via, rate/1e6), func(t *testing.T) {
				n, l := impairedPair(t, via, nettest.Impairments{AB: nettest.Impairment{Rate: rate}})
				require.Equal(t, via, l.Mechanism())
				got := tcpRate(t, n, 500*time.Millisecond, 2*time.Second)
				t.Logf("%s: TCP at %.2f Mbit/s through a %d Mbit/s limit", via, got/1e6, rate/1e6)
				require.True(t, within(got, float64(rate), 0.10), "TCP at %.2f Mbit/s, want %d ±10%%", got/1e6, rate/1e6)
			})
		}
	}
}

// tcpRate streams from a to b and returns the bits per second b received
// during measure, after warmup.
func tcpRate(t *testing.T, n *nettest.Network, warmup, measure time.Duration) float64 {
	t.Helper()
	ln, err := node(t, n, "b").Listen("tcp", ":5001")
	require.NoError(t, err)
	defer ln.Close()
	var received atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			k, err := c.Read(buf)
			received.Add(int64(k))
			if err != nil {
				return
			}
		}
	}()
	conn, err := node(t, n, "a").Dial("tcp", net.JoinHostPort(addr(t, n, "b", nettest.IPv4).String(), "5001"))
	require.NoError(t, err)
	stop := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				conn.Close()
				return
			default:
			}
			conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			conn.Write(buf)
		}
	}()
	time.Sleep(warmup)
	start, before := time.Now(), received.Load()
	time.Sleep(measure)
	got := float64(received.Load()-before) * 8 / time.Since(start).Seconds()
	close(stop)
	return got
}

// udpSequence sends count numbered datagrams from a to b, spaced by gap,
// and returns the numbers b received, in arrival order.
func udpSequence(t *testing.T, n *nettest.Network, count int, gap time.Duration) []uint32 {
	t.Helper()
	pc, err := node(t, n, "b").ListenPacket("udp4", ":6000")
	require.NoError(t, err)
	defer pc.Close()
	conn, err := node(t, n, "a").Dial("udp4", net.JoinHostPort(addr(t, n, "b", nettest.IPv4).String(), "6000"))
	require.NoError(t, err)
	defer conn.Close()
	// Warm up ARP with a datagram that is not counted.
	conn.Write(make([]byte, 4))
	time.Sleep(100 * time.Millisecond)
	var got []uint32
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			pc.SetReadDeadline(time.Now().Add(time.Second))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if k == 8 {
				got = append(got, binary.BigEndian.Uint32(buf[4:8]))
			}
		}
	}()
	msg := make([]byte, 8)
	next := time.Now()
	for i := range count {
		binary.BigEndian.PutUint32(msg, 0xfeedf00d)
		binary.BigEndian.PutUint32(msg[4:], uint32(i))
		conn.Write(msg)
		next = next.Add(gap)
		time.Sleep(time.Until(next))
	}
	<-done
	return got
}

// TestImpairDuplicateReorderCorrupt measures what only the userspace link
// (or netem) makes: duplicates, reordering and corruption, over 2000
// datagrams each.
func TestImpairDuplicateReorderCorrupt(t *testing.T) {
	skipUnderRace(t)
	const count = 2000
	bound := func(p float64) (float64, float64) { return count * p, 5 * math.Sqrt(count*p*(1-p)) }

	t.Run("duplicate", func(t *testing.T) {
		n, _ := impairedPair(t, "", nettest.Impairments{AB: nettest.Impairment{Duplicate: 0.2}})
		got := udpSequence(t, n, count, 300*time.Microsecond)
		mean, dev := bound(0.2)
		require.InDelta(t, mean, float64(len(got)-count), dev, "duplicates")
	})
	t.Run("corrupt", func(t *testing.T) {
		n, _ := impairedPair(t, "", nettest.Impairments{AB: nettest.Impairment{Corrupt: 0.2}})
		got := udpSequence(t, n, count, 300*time.Microsecond)
		mean, dev := bound(0.2) // a flipped bit fails the IP or UDP checksum
		require.InDelta(t, mean, float64(count-len(got)), dev, "corrupted (and so dropped)")
	})
	t.Run("reorder", func(t *testing.T) {
		n, _ := impairedPair(t, "", nettest.Impairments{AB: nettest.Impairment{Delay: 5 * time.Millisecond, Reorder: 0.25}})
		got := udpSequence(t, n, count, 300*time.Microsecond)
		require.Len(t, got, count, "reordering loses nothing")
		late := 0
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				late++
			}
		}
		require.Greater(t, late, count/20, "datagrams overtaken by ones sent later")
		t.Logf("%d of %d datagrams arrived after a later one", late, count)
	})
}

// TestImpairCorrelatedLoss: correlated losses come in bursts and still
// average the loss asked for.
func TestImpairCorrelatedLoss(t *testing.T) {
	skipUnderRace(t)
	const count = 4000
	n, _ := impairedPair(t, nettest.MechanismUserspace, nettest.Impairments{AB: nettest.Impairment{Loss: 0.1, LossCorrelation: 0.5}})
	got := udpSequence(t, n, count, 200*time.Microsecond)
	seen := make([]bool, count)
	for _, s := range got {
		seen[s] = true
	}
	lost, bursts := 0, 0
	for i, ok := range seen {
		if !ok {
			lost++
			if i == 0 || seen[i-1] {
				bursts++
			}
		}
	}
	meanBurst := float64(lost) / float64(max(bursts, 1))
	t.Logf("lost %d of %d in %d bursts (mean burst %.2f)", lost, count, bursts, meanBurst)
	require.InDelta(t, 0.1*count, float64(lost), 0.4*0.1*count, "the average loss stays 10%")
	// Uncorrelated, a burst would average 1/(1-0.1) = 1.1 losses; here
	// P(lost | previous lost) = 0.5 + 0.5*0.1 = 0.55, so 1/(1-0.55) = 2.2.
	require.Greater(t, meanBurst, 1.6, "losses come in bursts")
}

// TestImpairReproducible: the userspace link's losses follow its seed:
// the same seed loses the same datagrams, another seed others.
func TestImpairReproducible(t *testing.T) {
	skipUnderRace(t)
	lost := func(seed int64) []uint32 {
		n, _ := impairedPair(t, nettest.MechanismUserspace, nettest.Impairments{AB: nettest.Impairment{Loss: 0.3, Seed: seed}})
		got := udpSequence(t, n, 400, 200*time.Microsecond)
		seen := map[uint32]bool{}
		for _, s := range got {
			seen[s] = true
		}
		var out []uint32
		for i := range uint32(400) {
			if !seen[i] {
				out = append(out, i)
			}
		}
		require.NoError(t, n.Close())
		return out
	}
	first, again, other := lost(7), lost(7), lost(8)
	// Each frame through the link takes the next draw of the seeded
	// generator, so a stray frame before the test's datagrams (an IPv6
	// solicitation after the link came up) shifts the pattern: compare up
	// to a shift of a few frames, away from the ends.
	require.True(t, sameUpToShift(first, again, 400), "the same seed, the same losses:\n%v\n%v", first, again)
	require.False(t, sameUpToShift(first, other, 400), "another seed, other losses:\n%v\n%v", first, other)
}

// sameUpToShift reports whether the lost sequence numbers a and b (of n
// sent) agree once shifted by at most 3, within [4, n-4).
func sameUpToShift(a, b []uint32, n int) bool {
	for d := -3; d <= 3; d++ {
		var x, y []int
		for _, v := range a {
			if w := int(v) + d; w >= 4 && w < n-4 {
				x = append(x, w)
			}
		}
		for _, v := range b {
			if w := int(v); w >= 4 && w < n-4 {
				y = append(y, w)
			}
		}
		if slices.Equal(x, y) {
			return true
		}
	}
	return false
}

// TestImpairChangeDuringRun: impairments change while the network runs; a
// veth link takes what the kernel can do and refuses, naming the way, what
// it cannot.
func TestImpairChangeDuringRun(t *testing.T) {
	n, l := impairedPair(t, "", nettest.Impairments{})
	require.Equal(t, nettest.MechanismNone, l.Mechanism())
	require.NoError(t, l.Impair(nettest.Impairments{AB: nettest.Impairment{Loss: 1}}))
	require.Equal(t, nettest.MechanismKernel, l.Mechanism())
	r := pingStats(t, n, 5, time.Millisecond)
	require.Zero(t, r.Received, "100% loss")
	require.NoError(t, l.Impair(nettest.Impairments{}))
	r = pingStats(t, n, 5, time.Millisecond)
	require.Equal(t, 5, r.Received, "impairment removed")

	err := l.Impair(nettest.Both(nettest.Impairment{Delay: time.Millisecond}))
	if l.Mechanism() != nettest.MechanismNetem {
		require.ErrorIs(t, err, nettest.ErrUnsupported)
		require.ErrorContains(t, err, `link a-b: delay needs netem or a userspace link`)
		require.ErrorContains(t, err, `declare the link with ImpairVia: "userspace"`)
	}

	// A userspace link changes anything, both ways.
	n, l = impairedPair(t, nettest.MechanismUserspace, nettest.Impairments{})
	require.NoError(t, l.Impair(nettest.Both(nettest.Impairment{Delay: 10 * time.Millisecond})))
	r = pingStats(t, n, 10, 2*time.Millisecond)
	require.Equal(t, 10, r.Received)
	if !raceEnabled { // the race detector slows the forwarder: timing only in the normal run
		require.True(t, within(median(r.RTTs).Seconds(), 0.020, 0.15), "median %v", median(r.RTTs))
	}
	require.Equal(t, "delay 10ms", l.Impairments().AB.String())
}

// TestImpairErrors: what no mechanism can give, and what this kernel lacks,
// are clear errors before anything is built.
func TestImpairErrors(t *testing.T) {
	bad := func(via nettest.Mechanism, imp nettest.Impairments) error {
		topo := nettest.Topology{
			Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
			Links: []nettest.LinkConfig{{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}, Impair: imp, ImpairVia: via}},
		}
		return topo.Validate()
	}
	require.ErrorContains(t, bad("", nettest.Both(nettest.Impairment{Loss: 10})), "impairment A->B: loss 10 is not a probability from 0 to 1 (write 10% as 0.1)")
	require.ErrorContains(t, bad("", nettest.Impairments{BA: nettest.Impairment{Jitter: time.Second}}), "impairment B->A: jitter 1s is larger than the delay 0s")
	require.ErrorContains(t, bad("", nettest.Impairments{AB: nettest.Impairment{Reorder: 0.1}}), "reorder needs a delay")
	require.ErrorContains(t, bad(nettest.MechanismKernel, nettest.Both(nettest.Impairment{Delay: time.Millisecond})),
		`mechanism tbf+nftables does only random loss and rate; delay needs "userspace" (or netem)`)
	require.ErrorContains(t, bad(nettest.MechanismNone, nettest.Both(nettest.Impairment{Loss: 0.1})), "mechanism none cannot impair anything")
	require.ErrorContains(t, bad("quantum", nettest.Impairments{}), `unknown mechanism "quantum"`)

	// netem, asked for on a kernel without it.
	fs := features(t)
	if !fs.Supported(nettest.FeatureNetem) {
		topo := nettest.Topology{
			Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
			Links: []nettest.LinkConfig{{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}, ImpairVia: nettest.MechanismNetem}},
		}
		_, err := nettest.Build(context.Background(), topo)
		require.ErrorIs(t, err, nettest.ErrUnsupported)
		require.ErrorContains(t, err, "link a-b: this kernel has no sch_netem")
	}
}

func features(t *testing.T) *nettest.Features {
	t.Helper()
	fs, err := nettest.DetectFeatures()
	require.NoError(t, err)
	return fs
}
