package nettest

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestNeighSetBatches: neighSet installs more entries than one batch holds
// and gives each refused entry its own error, the others installed.
func TestNeighSetBatches(t *testing.T) {
	if err := CheckPrivilege(); err != nil {
		if os.Getenv("NETTEST_REQUIRE_PRIVILEGE") == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	b := NewBuilder("batch").Host("a", "b").Link("a", "b")
	b.Auto(Auto{})
	topo, err := b.Topology()
	require.NoError(t, err)
	topo.Links[0].A.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16"), netip.MustParsePrefix("fd00::1/64")}
	topo.Links[0].B.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.2/16"), netip.MustParsePrefix("fd00::2/64")}
	n, err := Build(context.Background(), topo)
	require.NoError(t, err)
	defer n.Close()
	a, err := n.Node("a")
	require.NoError(t, err)
	eth := a.ifaces[0]

	const count = 2*neighBatch + 44
	bad := map[int]bool{0: true, neighBatch: true, count - 1: true}
	var neighs []netlink.Neigh
	for i := range count {
		ne := netlink.Neigh{LinkIndex: eth.index(), Family: unix.AF_INET, State: netlink.NUD_REACHABLE,
			Flags: netlink.NTF_EXT_LEARNED, IP: net.IPv4(10, 0, byte(1+i/250), byte(1+i%250)),
			HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}}
		if i%2 == 1 {
			ne.Family, ne.IP = unix.AF_INET6, netip.AddrFrom16([16]byte{0: 0xfd, 13: 1, 14: byte(i >> 8), 15: byte(i)}).AsSlice()
		}
		if bad[i] {
			ne.LinkIndex = 9999 // no such interface
		}
		neighs = append(neighs, ne)
	}
	errs, err := a.ns.neighSet(neighs)
	require.NoError(t, err)
	require.Len(t, errs, count)
	for i, err := range errs {
		if bad[i] {
			require.ErrorIs(t, err, syscall.ENODEV, "entry %d", i)
		} else {
			require.NoError(t, err, "entry %d", i)
		}
	}
	got, err := a.ns.nl.NeighList(eth.index(), netlink.FAMILY_ALL)
	require.NoError(t, err)
	learnt := 0
	for _, ne := range got {
		if ne.Flags&netlink.NTF_EXT_LEARNED != 0 {
			learnt++
		}
	}
	// Those asked for, and a's own entry for b that Build installed.
	require.Equal(t, count-len(bad)+2, learnt)
}
