package nettest_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/nettest"
)

// ifaceOn returns the node's interface on a segment (a link or LAN name).
func ifaceOn(t *testing.T, n *nettest.Network, name, segment string) *nettest.Interface {
	t.Helper()
	a, err := n.AddrOn(name, segment, nettest.IPv4)
	require.NoError(t, err)
	for _, in := range node(t, n, name).Interfaces() {
		if got, err := in.Addr(nettest.IPv4); err == nil && got == a {
			return in
		}
	}
	t.Fatalf("%s has no interface with %s", name, a)
	return nil
}

// requireLearned checks that from knows to on segment, in family f: an
// externally learned, valid entry with to's address there and to's MAC.
func requireLearned(t *testing.T, n *nettest.Network, from, to, segment string, f nettest.Family) {
	t.Helper()
	in, peer := ifaceOn(t, n, from, segment), ifaceOn(t, n, to, segment)
	want, err := peer.Addr(f)
	require.NoError(t, err)
	fam := netlink.FAMILY_V4
	if f == nettest.IPv6 {
		fam = netlink.FAMILY_V6
	}
	var neighs []netlink.Neigh
	err = node(t, n, from).Netlink(func(h *netlink.Handle) (err error) {
		neighs, err = h.NeighList(in.Index(), fam)
		return err
	})
	require.NoError(t, err)
	i := slices.IndexFunc(neighs, func(ne netlink.Neigh) bool {
		a, _ := netip.AddrFromSlice(ne.IP)
		return a.Unmap() == want
	})
	require.GreaterOrEqual(t, i, 0, "%s has no neighbour entry for %s (%s): %v", in, want, to, neighs)
	ne := neighs[i]
	require.Equal(t, peer.MAC().String(), ne.HardwareAddr.String(), "%s: lladdr of %s", in, want)
	require.NotZero(t, ne.Flags&netlink.NTF_EXT_LEARNED, "%s: %s not externally learned (flags %#x)", in, want, ne.Flags)
	require.NotZero(t, ne.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE), "%s: %s state %#x", in, want, ne.State)
}

// TestBuildLearnsNeighbours: Build returns with every node knowing the
// link-layer address of its neighbours on every segment, in both families,
// as entries that the host-wide neighbour table's limit does not apply to
// (a full table made first pings wait for, or lose, their resolution); a
// link or an interface brought back up learns them again.
func TestBuildLearnsNeighbours(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("learn").Host("h1", "h2", "h3", "h4").Router("r1").
		Chain("h1", "r1", "h2").LAN("lan", []string{"r1", "h3", "h4"})))
	pairs := [][3]string{
		{"h1", "r1", "h1-r1"}, {"r1", "h1", "h1-r1"},
		{"r1", "h2", "r1-h2"}, {"h2", "r1", "r1-h2"},
		{"r1", "h3", "lan"}, {"h3", "r1", "lan"}, {"h3", "h4", "lan"}, {"h4", "h3", "lan"},
		{"r1", "h4", "lan"}, {"h4", "r1", "lan"},
	}
	all := func(pairs ...[3]string) {
		t.Helper()
		for _, p := range pairs {
			for _, f := range bothFamilies {
				requireLearned(t, n, p[0], p[1], p[2], f)
			}
		}
	}
	all(pairs...)

	// Going down flushes an interface's entries; coming back up restores them.
	l, err := n.Link("r1-h2")
	require.NoError(t, err)
	require.NoError(t, l.SetDown())
	require.NoError(t, l.SetUp(context.Background()))
	all(pairs[2:4]...)

	// One end down: the other end loses its carrier, and its entries too.
	end := ifaceOn(t, n, "h1", "h1-r1")
	require.NoError(t, end.SetDown())
	require.NoError(t, end.SetUp(context.Background()))
	all(pairs[:2]...)

	// A LAN member cut off and healed.
	p, err := n.Isolate("h3")
	require.NoError(t, err)
	require.NoError(t, p.Heal(context.Background()))
	all(pairs...)
}

// TestLearnNeighboursIPv6Off: where the user turns IPv6 off on an
// interface, Build learns only the IPv4 neighbours there.
func TestLearnNeighboursIPv6Off(t *testing.T) {
	b := nettest.NewBuilder("learn6off").Host("h1", "h2").Chain("h1", "h2").
		Sysctl("h1", "net.ipv6.conf.eth0.disable_ipv6", "1")
	n := build(t, mustTopology(t, b))
	requireLearned(t, n, "h1", "h2", "h1-h2", nettest.IPv4)
	requireLearned(t, n, "h2", "h1", "h1-h2", nettest.IPv4)
	var v6 []netlink.Neigh
	err := node(t, n, "h1").Netlink(func(h *netlink.Handle) (err error) {
		v6, err = h.NeighList(ifaceOn(t, n, "h1", "h1-h2").Index(), unix.AF_INET6)
		return err
	})
	require.NoError(t, err)
	for _, ne := range v6 {
		require.Zero(t, ne.Flags&netlink.NTF_EXT_LEARNED, "h1:eth0 has IPv6 off, yet learnt %s", ne.IP)
	}
	ping(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))
}

// TestBuildTeachesSwitches: Build returns with each LAN switch knowing the
// MAC behind each of its ports, as an externally learned entry (never
// aged out; taken over if the MAC moves): until the bridge learnt it, a
// first frame to a member went to every port, and on a LAN of 1,000 hosts
// the first pings flooded the CPUs' input backlogs.
func TestBuildTeachesSwitches(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("teach").Host("h1", "h2", "h3").LAN("lan", []string{"h1", "h2", "h3"})))
	sw := n.Switches()
	require.Len(t, sw, 1)
	var fdb []netlink.Neigh
	err := sw[0].Netlink(func(h *netlink.Handle) (err error) {
		fdb, err = h.NeighList(0, unix.AF_BRIDGE)
		return err
	})
	require.NoError(t, err)
	for _, name := range []string{"h1", "h2", "h3"} {
		member := ifaceOn(t, n, name, "lan")
		port := member.Peer()
		require.NotNil(t, port)
		i := slices.IndexFunc(fdb, func(ne netlink.Neigh) bool {
			return ne.LinkIndex == port.Index() && ne.HardwareAddr.String() == member.MAC().String()
		})
		require.GreaterOrEqual(t, i, 0, "switch has no entry for %s (%s) on port %s: %v", name, member.MAC(), port, fdb)
		require.NotZero(t, fdb[i].Flags&netlink.NTF_EXT_LEARNED, "%s's entry on %s is not externally learned (flags %#x)", name, port, fdb[i].Flags)
	}
}

// TestLANNeighboursStayReachable: a LAN member's neighbour entries stay
// reachable for 10 to 30 minutes (base_reachable_time 20 minutes on its
// LAN interface, both families), not the kernel's 15 to 45 seconds: on a
// LAN of 1,000 hosts pinging each other the stale entries' probes, and the
// broadcasts of those lost, overflowed the CPUs' input backlogs. Other
// links keep the kernel's time; a member with IPv6 off builds.
func TestLANNeighboursStayReachable(t *testing.T) {
	b := nettest.NewBuilder("reach").Auto(nettest.Auto{IPv4: true, IPv6: true}).Host("h1", "h2", "h3", "h4").
		LAN("lan", []string{"h1", "h2", "h3"}).Link("h1:eth9", "h4").
		Sysctl("h3", "net.ipv6.conf.eth0.disable_ipv6", "1")
	n := build(t, mustTopology(t, b))
	read := func(nodeName, path string) string {
		var v []byte
		require.NoError(t, node(t, n, nodeName).Do(func() (err error) {
			v, err = os.ReadFile(path)
			return err
		}))
		return strings.TrimSpace(string(v))
	}
	for _, f := range []string{"ipv4", "ipv6"} {
		require.Equal(t, "1200000", read("h1", "/proc/sys/net/"+f+"/neigh/eth0/base_reachable_time_ms"), f)
		require.Equal(t, "1200000", read("h2", "/proc/sys/net/"+f+"/neigh/eth0/base_reachable_time_ms"), f)
		require.NotEqual(t, "1200000", read("h1", "/proc/sys/net/"+f+"/neigh/eth9/base_reachable_time_ms"), f)
	}
	require.Equal(t, "1200000", read("h3", "/proc/sys/net/ipv4/neigh/eth0/base_reachable_time_ms"))
	ping(t, node(t, n, "h3"), addr(t, n, "h2", nettest.IPv4))
}

// TestIPv4OnlyLANQuiet: in a topology without IPv6, a LAN member's
// interfaces have no IPv6 link-local address, so they send nothing the
// switch would copy to every port (on 1,000 hosts, millions of frames that
// overflowed the CPUs' backlogs); IPv6 stays on. Elsewhere, and with IPv6,
// interfaces keep theirs.
func TestIPv4OnlyLANQuiet(t *testing.T) {
	linkLocal := func(n *nettest.Network, name, iface string) []netlink.Addr {
		t.Helper()
		in := ifaceOn(t, n, name, iface)
		var out []netlink.Addr
		require.NoError(t, node(t, n, name).Netlink(func(h *netlink.Handle) error {
			l, err := h.LinkByIndex(in.Index())
			if err != nil {
				return err
			}
			addrs, err := h.AddrList(l, netlink.FAMILY_V6)
			for _, a := range addrs {
				if a.IP.IsLinkLocalUnicast() {
					out = append(out, a)
				}
			}
			return err
		}))
		return out
	}
	b := nettest.NewBuilder("quiet").Auto(nettest.Auto{IPv4: true}).Host("h1", "h2", "h3", "h4").
		LAN("lan", []string{"h1", "h2", "h3"}).Link("h3", "h4")
	n := build(t, mustTopology(t, b))
	require.Empty(t, linkLocal(n, "h1", "lan"))
	require.Empty(t, linkLocal(n, "h3", "lan"))
	require.Empty(t, linkLocal(n, "h3", "h3-h4"), "h3 is a LAN member")
	require.NotEmpty(t, linkLocal(n, "h4", "h3-h4"), "h4 is on no LAN")
	require.Equal(t, "0", readFile(t, node(t, n, "h1"), "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
	ping(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))

	n = build(t, mustTopology(t, nettest.NewBuilder("loud").Host("h1", "h2").LAN("lan", []string{"h1", "h2"})))
	require.NotEmpty(t, linkLocal(n, "h1", "lan"), "with IPv6")
}

func readFile(t testing.TB, nd *nettest.Node, path string) string {
	t.Helper()
	var v []byte
	require.NoError(t, nd.Do(func() (err error) { v, err = os.ReadFile(path); return err }))
	return strings.TrimSpace(string(v))
}
