package nettest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// manyLinks is n links between a and b; with addressed, every other one
// has user addresses (the rest take automatic ones, around them).
func manyLinks(n int, addressed bool) Topology {
	t := Topology{Nodes: []NodeConfig{{Name: "a"}, {Name: "b"}}, Auto: Auto{IPv4: true, IPv6: true}}
	for i := range n {
		l := LinkConfig{A: Endpoint{Node: "a"}, B: Endpoint{Node: "b"}}
		if addressed && i%2 == 0 {
			base := netip.AddrFrom4([4]byte{10, byte(i >> 14), byte(i >> 6), byte(i << 2)})
			l.A.Addrs = []netip.Prefix{netip.PrefixFrom(base.Next(), 30)}
			l.B.Addrs = []netip.Prefix{netip.PrefixFrom(base.Next().Next(), 30)}
		}
		t.Links = append(t.Links, l)
	}
	return t
}

// chainOf is n nodes in a line, each with a route.
func chainOf(n int) Topology {
	t := Topology{Auto: Auto{IPv4: true, IPv6: true}}
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		t.Nodes = append(t.Nodes, NodeConfig{Name: name, Routes: []Route{{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth0"}}})
		if i > 0 {
			t.Links = append(t.Links, LinkConfig{A: Endpoint{Node: fmt.Sprintf("n%d", i-1)}, B: Endpoint{Node: name}})
		}
	}
	return t
}

// TestValidateScales catches quadratic checks: validating four times the
// links (or nodes) must take well under the sixteen times as long that
// quadratic work would (12x at most, where linear is 4x), and 16,000 links (the most the automatic
// IPv4 link pool holds) well under the seconds it took when the unnamed
// links' names, the subnet overlaps and the address pools were each found
// by scanning every link before.
func TestValidateScales(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	shapes := map[string]func(int) Topology{
		"links between two nodes":           func(n int) Topology { return manyLinks(n, false) },
		"links between two nodes addressed": func(n int) Topology { return manyLinks(n, true) },
		"chain":                             chainOf,
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			measure := func(n int) time.Duration {
				topo := shape(n)
				best := time.Duration(1 << 62)
				for range 3 {
					runtime.GC() // no collection owed by the last run counted in this one
					start := cpuTime()
					require.NoError(t, topo.Validate())
					best = min(best, cpuTime()-start)
				}
				return best
			}
			small, big := measure(4000), measure(16000)
			t.Logf("4,000 links: %v, 16,000 links: %v (ratio %.1f; quadratic would be 16)", small, big, float64(big)/float64(small))
			require.Less(t, big, 5*time.Second)
			require.Less(t, float64(big)/float64(small), 12.0, "16,000 links took %v, 4,000 %v: worse than linear", big, small)
		})
	}
}

// TestLinkNamesUnnamed: unnamed links between the same nodes are numbered
// from 2, skipping names the user gave.
func TestLinkNamesUnnamed(t *testing.T) {
	n := newLinkNamer()
	var got []string
	n.taken["a-b-3"] = true
	for range 4 {
		name := n.generate("a-b")
		n.taken[name] = true
		got = append(got, name)
	}
	require.Equal(t, []string{"a-b", "a-b-2", "a-b-4", "a-b-5"}, got)
	// the same as Interfaces reports for a topology
	topo := manyLinks(3, false)
	topo.Links = append(topo.Links, LinkConfig{Name: "a-b-4", A: Endpoint{Node: "a"}, B: Endpoint{Node: "b"}})
	topo.Links = append(topo.Links, LinkConfig{A: Endpoint{Node: "a"}, B: Endpoint{Node: "b"}})
	p, err := topo.resolve()
	require.NoError(t, err)
	var names []string
	for _, lp := range p.links {
		names = append(names, lp.name)
	}
	require.Equal(t, []string{"a-b", "a-b-2", "a-b-3", "a-b-4", "a-b-5"}, names)
}

// TestSubnetIndexMatchesScan: the index finds the same subnet as the scan
// over every subnet it replaced, on random nested and disjoint prefixes of
// both families.
func TestSubnetIndexMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := make([]*segment, 5)
	for i := range segs {
		segs[i] = &segment{name: fmt.Sprint(i)}
	}
	for round := range 200 {
		x := newSubnetIndex(0)
		var list []subnet
		for range 60 {
			var p netip.Prefix
			if r.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{10, byte(r.IntN(2)), byte(r.IntN(4)), byte(r.IntN(256))})
				p = netip.PrefixFrom(a, 14+r.IntN(19)).Masked()
			} else {
				a := netip.AddrFrom16([16]byte{0xfd, 0, 0, byte(r.IntN(2)), 0, 0, 0, byte(r.IntN(4)), 15: byte(r.IntN(256))})
				p = netip.PrefixFrom(a, 30+r.IntN(99)).Masked()
			}
			seg := segs[r.IntN(len(segs))]
			var want *subnet
			for i := range list {
				if list[i].seg != seg && list[i].prefix.Overlaps(p) {
					want = &list[i]
					break
				}
			}
			got, ok := x.overlap(p, seg)
			if want == nil {
				if ok {
					t.Fatalf("round %d: %s on %s: found %s on %s, want none", round, p, seg.name, got.prefix, got.seg.name)
				}
				s := subnet{prefix: p, seg: seg}
				list = append(list, s)
				x.add(s)
				continue
			}
			require.True(t, ok, "round %d: %s: found none, want %s", round, p, want.prefix)
			require.Equal(t, want.prefix, got.prefix, "round %d: %s on %s", round, p, seg.name)
			require.Same(t, want.seg, got.seg)
		}
	}
}

// TestPoolSkipsTaken: a pool's subnets overlap none taken, come in order,
// and are the ones the scan over every taken prefix gave.
func TestPoolSkipsTaken(t *testing.T) {
	within := netip.MustParsePrefix("198.18.0.0/22")
	taken := pfxs("198.18.0.4/30", "198.18.0.16/28", "198.18.0.20/30", "198.18.1.0/24", "10.0.0.0/8", "198.18.3.252/30", "fd00::/64")
	p := newPool(within, taken)
	var got []string
	for {
		sub, ok := p.take(30)
		if !ok {
			break
		}
		for _, tk := range taken {
			require.False(t, tk.Overlaps(sub), "%s overlaps %s", sub, tk)
		}
		got = append(got, sub.String())
	}
	require.Equal(t, "198.18.0.0/30", got[0])
	require.Equal(t, "198.18.0.8/30", got[1])
	require.Equal(t, "198.18.0.12/30", got[2])
	require.Equal(t, "198.18.0.32/30", got[3])
	require.Equal(t, 256-1-4-64-1, len(got), strings.Join(got, " "))
}

// cpuTime is the CPU time the process has used (GC included): the
// machine may be busy with other work, which wall time would count.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pfxs(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}
