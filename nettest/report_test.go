package nettest_test

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

// TestReport: the report shows what the kernel holds, listening sockets
// and neighbours learnt by traffic included.
func TestReport(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("report").Host("h1", "h2").Router("r1").
		Chain("h1", "r1").LAN("sw", []string{"r1", "h2"})))
	h2 := node(t, n, "h2")
	var ln net.Listener
	require.NoError(t, h2.Do(func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:8080")
		return err
	}))
	defer ln.Close()
	var pc net.PacketConn
	require.NoError(t, h2.Do(func() (err error) {
		pc, err = net.ListenPacket("udp6", "[::]:5353")
		return err
	}))
	defer pc.Close()
	ping(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))

	var b strings.Builder
	require.NoError(t, n.Report(&b))
	r := b.String()
	t.Log("\n" + r)
	for _, want := range []string{
		"== router r1\n",
		"== switch sw\n",
		"eth0       UP      mtu 1500",
		"198.18.0.2/30 fdf6:fd81:8f7e::2/64 fe80::",
		"198.19.0.0/24 via 198.18.0.2 dev eth0",
		"fdf6:fd81:8f7e:8000::/64 via fdf6:fd81:8f7e::2 dev eth0",
		"master br0",
		"tcp [::]:8080", // Go listens dual-stack on the wildcard
		"udp [::]:5353",
		"198.19.0.2 dev eth1 lladdr",
	} {
		require.Contains(t, r, want)
	}
	l, err := n.Link("h1-r1")
	require.NoError(t, err)
	require.NoError(t, l.SetDown())
	b.Reset()
	require.NoError(t, node(t, n, "h1").Report(&b))
	require.Contains(t, b.String(), "eth0       DOWN")

	// The switch's bridge and ports have no addresses, not even IPv6
	// link-local ones: captures on the LAN show only the members.
	b.Reset()
	require.NoError(t, node(t, n, "sw").Report(&b))
	require.NotContains(t, b.String(), "fe80::")
	require.Contains(t, b.String(), "h2         UP      mtu 1500")
}

// TestReportFirewall: a node's firewall rules are in its report.
func TestReportFirewall(t *testing.T) {
	n := build(t, seedTopology())
	require.NoError(t, node(t, n, "blue").Firewall().Deny(nettest.Rule{Proto: "tcp", DstPort: 22}))
	var b strings.Builder
	require.NoError(t, n.Report(&b))
	require.Contains(t, b.String(), "   firewall:\n")
	require.Contains(t, b.String(), "input: tcp dport 22 drop")
	b.Reset()
	require.NoError(t, node(t, n, "red").Report(&b))
	require.NotContains(t, b.String(), "firewall:", "no rules, no section")
}
