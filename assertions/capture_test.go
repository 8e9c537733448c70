package assertions_test

import (
	"fmt"
	"log"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// capture starts a capture in memory for the test.
func capture(t testing.TB, n *nettest.Network, nodeName, iface string) *nettest.Capture {
	t.Helper()
	c, err := node(t, n, nodeName).Capture(iface, "")
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	return c
}

// TestNoPacketCrossed is the issue's first example: no packet to TCP port
// 22 crossed r1:eth1 (r1 drops them on their way in), though some reached
// r1:eth0. The failure lists the frames that match.
func TestNoPacketCrossed(t *testing.T) {
	t.Parallel()
	n := chain(t)
	_, stop, err := node(t, n, "h2").Echo("tcp", ":22")
	require.NoError(t, err)
	t.Cleanup(func() { stop() })
	require.NoError(t, node(t, n, "r1").Firewall().Deny(nettest.Rule{Direction: nettest.Forward, Proto: "tcp", DstPort: 22}))
	eth0, eth1 := capture(t, n, "r1", "eth0"), capture(t, n, "r1", "eth1")
	assertions.NoDial(t, n, "h1", "tcp", "h2", 22, assertions.Timeout(200*time.Millisecond))

	ssh := assertions.Match{Proto: "tcp", DstPort: 22}
	passes(t, func(f *fakeT) bool { return assertions.NoPacket(f, eth1, ssh) })
	passes(t, func(f *fakeT) bool { return assertions.SawPacket(f, eth0, ssh) })
	passes(t, func(f *fakeT) bool { return assertions.SawPacket(f, eth0, ssh, assertions.IPv6()) })
	passes(t, func(f *fakeT) bool {
		return assertions.NoPacket(f, eth0, assertions.Match{Proto: "tcp", DstPort: 22, Direction: "out"})
	})
	passes(t, func(f *fakeT) bool {
		return assertions.SawPacket(f, eth0, assertions.Match{Src: netip.MustParsePrefix("198.18.0.0/30"), Dst: netip.MustParsePrefix("198.18.0.6/32"), DstPort: 22})
	})

	msg := fails(t, func(f *fakeT) bool { return assertions.NoPacket(f, eth0, ssh, assertions.IPv4()) })
	require.Regexp(t, `^capture r1:eth0: [1-9]\d* of [1-9]\d* frames match tcp dport 22, want none:\n`+
		`  in 198\.18\.0\.1:\d+ > 198\.18\.0\.6:22 tcp SYN(\n|$)`, msg)
}

// TestSawPacketEchoReply is the issue's second example: at least one ICMP
// echo reply on h2:eth0. The failure says what the capture holds instead.
func TestSawPacketEchoReply(t *testing.T) {
	t.Parallel()
	n := chain(t)
	c := capture(t, n, "h2", "eth0")
	passes(t, func(f *fakeT) bool { return assertions.NoPacket(f, c, assertions.Match{ICMP: "echo-reply"}) })
	require.True(t, assertions.Ping(t, n, "h1", "h2", assertions.IPv4()))

	passes(t, func(f *fakeT) bool { return assertions.SawPacket(f, c, assertions.Match{ICMP: "echo-reply"}) })
	passes(t, func(f *fakeT) bool {
		return assertions.SawPacket(f, c, assertions.Match{Proto: "icmp", ICMP: "echo-request", Direction: "in"})
	})
	passes(t, func(f *fakeT) bool {
		return assertions.NoPacket(f, c, assertions.Match{ICMP: "echo-reply"}, assertions.IPv6())
	})

	msg := fails(t, func(f *fakeT) bool {
		return assertions.SawPacket(f, c, assertions.Match{ICMP: "echo-reply", Direction: "in"}, assertions.IPv4())
	})
	require.Regexp(t, `^capture h2:eth0: 0 of 2 frames match in icmp echo-reply, want at least one; it has 1 icmp echo-reply, 1 icmp echo-request:\n`+
		`  in 198\.18\.0\.1 > 198\.18\.0\.6 icmp echo-request id \d+ seq \d+\n`+
		`  out 198\.18\.0\.6 > 198\.18\.0\.1 icmp echo-reply id \d+ seq \d+$`, msg)
	msg = fails(t, func(f *fakeT) bool {
		return assertions.NoPacket(f, c, assertions.Match{Proto: "icmp"}, assertions.IPv4())
	})
	require.Regexp(t, `^capture h2:eth0: 2 of 2 frames match icmp, want none:\n  in .* echo-request .*\n  out .* echo-reply .*$`, msg)
}

// TestSawPacketWithin: with Within, a check waits for the frame.
func TestSawPacketWithin(t *testing.T) {
	t.Parallel()
	n := chain(t)
	c := capture(t, n, "h2", "eth0")
	echo := assertions.Match{Proto: "icmp", ICMP: "echo-request"}
	msg := fails(t, func(f *fakeT) bool {
		return assertions.SawPacket(f, c, echo, assertions.Within(200*time.Millisecond), assertions.IPv4())
	})
	require.Regexp(t, `^capture h2:eth0: still 0 of \d+ frames match icmp echo-request after 200ms, want at least one; `, msg)
	pinged := make(chan bool)
	go func() {
		time.Sleep(300 * time.Millisecond)
		pinged <- assertions.Ping(t, n, "h1", "h2", assertions.IPv4())
	}()
	passes(t, func(f *fakeT) bool { return assertions.SawPacket(f, c, echo, assertions.Within(5*time.Second)) })
	require.True(t, <-pinged)
}

// TestCaptureCheckErrors: a Match, an option or a capture that cannot be
// checked fails the check, saying why.
func TestCaptureCheckErrors(t *testing.T) {
	t.Parallel()
	msg := fails(t, func(f *fakeT) bool { return assertions.SawPacket(f, nil, assertions.Match{}) })
	require.Equal(t, "assertions.SawPacket: the capture is nil", msg)
	msg = fails(t, func(f *fakeT) bool { return assertions.NoPacket(f, nil, assertions.Match{}, assertions.Every(0)) })
	require.Equal(t, "assertions.NoPacket: option Every(0s): want a positive duration", msg)

	n := chain(t)
	c := capture(t, n, "h1", "eth0")
	for _, bad := range []struct {
		m    assertions.Match
		want string
	}{
		{assertions.Match{Proto: "sctp"}, `capture h1:eth0: match sctp: Proto "sctp": want tcp, udp, icmp, icmpv6, arp or empty (any)`},
		{assertions.Match{Proto: "icmp", DstPort: 7}, `capture h1:eth0: match icmp dport 7: DstPort 7: ports need Proto tcp, udp or empty (it is "icmp")`},
		{assertions.Match{ICMP: "ping"}, `capture h1:eth0: match icmp ping: ICMP "ping": no ICMP or ICMPv6 type of that name ("ping" is no icmp type nettest knows (it knows echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply))`},
		{assertions.Match{Proto: "icmp", ICMP: "nd-neighbor-solicit"}, `capture h1:eth0: match icmp nd-neighbor-solicit: ICMP: "nd-neighbor-solicit" is no icmp type nettest knows (it knows echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply)`},
		{assertions.Match{Proto: "udp", ICMP: "echo-reply"}, `capture h1:eth0: match udp echo-reply: ICMP "echo-reply": needs Proto icmp, icmpv6 or empty (it is "udp")`},
		{assertions.Match{Direction: "up", SrcPort: -1}, `capture h1:eth0: match up sport -1: SrcPort -1: want 1 to 65535 (0: any); Direction "up": want in, out or empty (both)`},
	} {
		msg := fails(t, func(f *fakeT) bool { return assertions.SawPacket(f, c, bad.m) })
		require.Equal(t, bad.want, msg)
	}
	require.NoError(t, c.Stop())
	require.NoError(t, n.Close())
	passes(t, func(f *fakeT) bool { return assertions.NoPacket(f, c, assertions.Match{Proto: "tcp"}) })
}

// TestMatchString: how a Match reads in the messages.
func TestMatchString(t *testing.T) {
	t.Parallel()
	for m, want := range map[assertions.Match]string{
		{}:                                    "every frame",
		{Proto: "tcp", DstPort: 22}:           "tcp dport 22",
		{ICMP: "echo-reply"}:                  "icmp echo-reply",
		{Proto: "icmpv6", ICMP: "echo-reply"}: "icmpv6 echo-reply",
		{Direction: "out", Src: netip.MustParsePrefix("10.0.0.0/24"), Dst: netip.MustParsePrefix("198.51.100.2/32"), SrcPort: 5, Proto: "udp"}: "out udp from 10.0.0.0/24 to 198.51.100.2 sport 5",
	} {
		require.Equal(t, want, m.String())
	}
}

// Check what crossed an interface: a capture in r1 while h1 pings h2.
func ExampleSawPacket() {
	n := exampleNetwork()
	defer n.Close()
	t := printT{} // in a test: t *testing.T

	r1, _ := n.Node("r1")
	c, err := r1.Capture("eth1", "") // the link to h2; "" keeps it in memory
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()
	assertions.Ping(t, n, "h1", "h2", assertions.IPv4())

	fmt.Println(assertions.SawPacket(t, c, assertions.Match{ICMP: "echo-reply", Direction: "in"}))
	fmt.Println(assertions.NoPacket(t, c, assertions.Match{Proto: "tcp", DstPort: 22}))
	// Output:
	// true
	// true
}
