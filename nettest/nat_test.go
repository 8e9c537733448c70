package nettest_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// natTopology is a home network: h1 on the inside (10.0.0.0/24,
// fd10::/64) with default routes via the router r1, and h2 on the far side
// (198.51.100.0/24, 2001:db8::/64), which has no route to the inside.
// Without NAT, nothing of h1 reaches h2.
func natTopology(t *testing.T, name string) *nettest.Network {
	t.Helper()
	return build(t, mustTopology(t, nettest.NewBuilder(name).Auto(nettest.Auto{}).
		Host("h1", "h2").Router("r1").
		Link("h1:eth0=10.0.0.2/24,fd10::2/64", "r1:eth0=10.0.0.1/24,fd10::1/64").
		Link("r1:eth1=198.51.100.1/24,2001:db8::1/64", "h2:eth0=198.51.100.2/24,2001:db8::2/64").
		Route("h1", "default via 10.0.0.1", "default via fd10::1")))
}

var (
	r1Outside = map[nettest.Family]netip.Addr{nettest.IPv4: netip.MustParseAddr("198.51.100.1"), nettest.IPv6: netip.MustParseAddr("2001:db8::1")}
	h1Inside  = map[nettest.Family]netip.Addr{nettest.IPv4: netip.MustParseAddr("10.0.0.2"), nettest.IPv6: netip.MustParseAddr("fd10::2")}
	h2Outside = map[nettest.Family]netip.Addr{nettest.IPv4: netip.MustParseAddr("198.51.100.2"), nettest.IPv6: netip.MustParseAddr("2001:db8::2")}
)

// seenFrom listens on port in server (every address), connects from client
// to dst and returns the address the server saw the connection come from.
func seenFrom(t *testing.T, server, client *nettest.Node, port int, dst netip.AddrPort) netip.Addr {
	t.Helper()
	ln, err := server.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	require.NoError(t, err)
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	c, err := client.Dial("tcp", dst.String())
	require.NoError(t, err, "dial %s from %s", dst, client)
	c.Close()
	remote := <-accepted
	require.NotNil(t, remote, "%s accepted nothing", server)
	return remote.(*net.TCPAddr).AddrPort().Addr().Unmap()
}

// TestNATMasquerade: a host behind NAT reaches the far side, which sees the
// router's address, IPv4 and IPv6; without it, it does not.
func TestNATMasquerade(t *testing.T) {
	t.Parallel()
	n := natTopology(t, "nat-masq")
	h1, r1, h2 := node(t, n, "h1"), node(t, n, "r1"), node(t, n, "h2")
	serveEcho(t, h2, "tcp", ":7")
	assertions.NoDial(t, n, "h1", "tcp", "h2", 7, short)
	assertions.NoPing(t, n, "h1", "h2")

	require.NoError(t, r1.NAT().Masquerade("eth1"))
	assertions.CanDial(t, n, "h1", "tcp", "h2", 7)
	assertions.Ping(t, n, "h1", "h2")
	for _, f := range bothFamilies {
		got := seenFrom(t, h2, h1, 8000, netip.AddrPortFrom(h2Outside[f], 8000))
		require.Equal(t, r1Outside[f], got, "h2 sees the router's address")
	}
	// Inside, nothing changes: r1 sees h1 as it is.
	require.Equal(t, h1Inside[nettest.IPv4], seenFrom(t, r1, h1, 8001, netip.MustParseAddrPort("10.0.0.1:8001")))
}

// TestNATSNAT: the source of the inside's packets becomes the address
// given, whatever interface they leave through.
func TestNATSNAT(t *testing.T) {
	t.Parallel()
	n := natTopology(t, "nat-snat")
	h1, r1, h2 := node(t, n, "h1"), node(t, n, "r1"), node(t, n, "h2")
	require.NoError(t, r1.NAT().SNAT(netip.MustParsePrefix("10.0.0.0/24"), r1Outside[nettest.IPv4]))
	require.NoError(t, r1.NAT().SNAT(netip.MustParsePrefix("fd10::2/128"), r1Outside[nettest.IPv6]))
	for _, f := range bothFamilies {
		got := seenFrom(t, h2, h1, 8000, netip.AddrPortFrom(h2Outside[f], 8000))
		require.Equal(t, r1Outside[f], got)
	}
	assertions.Ping(t, n, "h1", "h2")
}

// TestNATPortForward: a connection to the router's port reaches the
// server behind it, which sees the real client; UDP too.
func TestNATPortForward(t *testing.T) {
	t.Parallel()
	n := natTopology(t, "nat-dnat")
	h1, r1, h2 := node(t, n, "h1"), node(t, n, "r1"), node(t, n, "h2")
	serveEcho(t, h1, "udp", ":53")
	assertions.NoDial(t, n, "h2", "tcp", "r1:eth1", 8080, assertions.Refused())
	assertions.NoDial(t, n, "h2", "udp", "r1:eth1", 5353, assertions.Refused())

	for _, f := range bothFamilies {
		require.NoError(t, r1.NAT().PortForward("tcp", 8080, netip.AddrPortFrom(h1Inside[f], 80)))
		require.NoError(t, r1.NAT().PortForward("udp", 5353, netip.AddrPortFrom(h1Inside[f], 53)))
	}
	for _, f := range bothFamilies {
		got := seenFrom(t, h1, h2, 80, netip.AddrPortFrom(r1Outside[f], 8080))
		require.Equal(t, h2Outside[f], got, "the server sees the client")
	}
	assertions.CanDial(t, n, "h2", "udp", "r1:eth1", 5353)
	// Only the router's own addresses are forwarded: h2's traffic to port
	// 8080 elsewhere is not (h1 has no such port).
	assertions.NoDial(t, n, "h2", "tcp", "10.0.0.2", 8080, short)
	// Port 0 keeps the port.
	require.NoError(t, r1.NAT().PortForward("tcp", 9000, netip.AddrPortFrom(h1Inside[nettest.IPv4], 0)))
	require.Equal(t, h2Outside[nettest.IPv4], seenFrom(t, h1, h2, 9000, netip.AddrPortFrom(r1Outside[nettest.IPv4], 9000)))
}

// TestNATClear: NAT.Clear removes the NAT rules and leaves the filter.
func TestNATClear(t *testing.T) {
	t.Parallel()
	n := natTopology(t, "nat-clear")
	r1, h2 := node(t, n, "r1"), node(t, n, "h2")
	serveEcho(t, h2, "tcp", ":7")
	nat := r1.NAT()
	require.NoError(t, nat.Clear(), "nothing to clear")
	require.NoError(t, nat.Masquerade("eth1"))
	require.NoError(t, r1.Firewall().Deny(nettest.Rule{Direction: nettest.Forward, Proto: "udp"}))
	assertions.CanDial(t, n, "h1", "tcp", "h2", 7)

	require.NoError(t, nat.Clear())
	assertions.NoDial(t, n, "h1", "tcp", "h2", 7, short)
	rules, err := r1.Firewall().Rules()
	require.NoError(t, err)
	require.Contains(t, ruleLines(rules), "forward: meta l4proto udp drop")
	for _, r := range rules {
		require.NotContains(t, []string{"prerouting", "postrouting"}, r.Chain)
	}
	require.NoError(t, nat.Masquerade("eth1"), "NAT again after Clear")
	assertions.CanDial(t, n, "h1", "tcp", "h2", 7)
}

// TestNATValidate: NAT's arguments are checked before any kernel call.
func TestNATValidate(t *testing.T) {
	t.Parallel()
	n := natTopology(t, "nat-valid")
	nat, host := node(t, n, "r1").NAT(), node(t, n, "h1").NAT()
	require.EqualError(t, nat.Masquerade(""), "node r1: NAT: Masquerade(): no interface: name the one the packets leave through")
	require.EqualError(t, nat.Masquerade("wan"), `node r1: NAT: Masquerade(wan): outIface "wan": node r1 has no such interface (it has lo, eth0, eth1)`)
	require.EqualError(t, nat.SNAT(netip.MustParsePrefix("10.0.0.1/24"), netip.MustParseAddr("2001:db8::1")),
		"node r1: NAT: SNAT(10.0.0.1/24, 2001:db8::1): src 10.0.0.1/24: has host bits set (the prefix is 10.0.0.0/24; an address is 10.0.0.1/32)\n"+
			"node r1: NAT: SNAT(10.0.0.1/24, 2001:db8::1): src 10.0.0.1/24 is IPv4 but to 2001:db8::1 is IPv6")
	require.EqualError(t, nat.SNAT(netip.Prefix{}, netip.Addr{}),
		"node r1: NAT: SNAT(invalid Prefix, invalid IP): src: no prefix (give one, or an address as a /32 or /128)\n"+
			"node r1: NAT: SNAT(invalid Prefix, invalid IP): to: no address")
	require.EqualError(t, nat.PortForward("icmp", 0, netip.AddrPort{}),
		"node r1: NAT: PortForward(icmp 0 -> invalid AddrPort): proto \"icmp\": want tcp or udp\n"+
			"node r1: NAT: PortForward(icmp 0 -> invalid AddrPort): port 0: want 1 to 65535\n"+
			"node r1: NAT: PortForward(icmp 0 -> invalid AddrPort): to: no address")
	require.EqualError(t, host.PortForward("tcp", 80, netip.MustParseAddrPort("198.51.100.2:80")),
		"node h1: NAT: PortForward(tcp 80 -> 198.51.100.2:80): node h1 is a host, which forwards nothing: a port forward to 198.51.100.2 needs a router (or one of the node's own addresses)")
	require.NoError(t, host.PortForward("tcp", 80, netip.MustParseAddrPort("10.0.0.2:8080")), "a host may forward to itself")
	require.NoError(t, host.Masquerade("eth0"), "a host may masquerade its own packets")
}

// A home router: h1 behind r1 reaches h2, which sees r1's address; and a
// port forward from r1's port 8080 to h1's port 80.
func ExampleNAT() {
	n, err := nettest.NewBuilder("home").Auto(nettest.Auto{}).
		Host("h1", "h2").Router("r1").
		Link("h1:eth0=10.0.0.2/24", "r1:eth0=10.0.0.1/24").
		Link("r1:eth1=198.51.100.1/24", "h2:eth0=198.51.100.2/24").
		Route("h1", "default via 10.0.0.1").
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	h1, _ := n.Node("h1")
	r1, _ := n.Node("r1")
	h2, _ := n.Node("h2")

	nat := r1.NAT()
	if err := nat.Masquerade("eth1"); err != nil {
		log.Fatal(err)
	}
	if err := nat.PortForward("tcp", 8080, netip.MustParseAddrPort("10.0.0.2:80")); err != nil {
		log.Fatal(err)
	}
	// remote accepts one connection on server and says where it came from.
	remote := func(server, client *nettest.Node, listen, dial string) string {
		ln, err := server.Listen("tcp", listen)
		if err != nil {
			log.Fatal(err)
		}
		defer ln.Close()
		c, err := client.Dial("tcp", dial)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		return s.RemoteAddr().(*net.TCPAddr).IP.String()
	}
	fmt.Println("h2 sees h1 as", remote(h2, h1, ":7000", "198.51.100.2:7000"))
	fmt.Println("h1 sees h2 as", remote(h1, h2, ":80", "198.51.100.1:8080"))
	// Output:
	// h2 sees h1 as 198.51.100.1
	// h1 sees h2 as 198.51.100.2
}
