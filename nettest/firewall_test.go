package nettest_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/internal/hoststate"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// fwTopology is h1 - r1 - h2, IPv4 and IPv6, routed, with echo servers
// (TCP 22 and 80, UDP 53) on h1 and h2.
func fwTopology(t *testing.T, name string) *nettest.Network {
	t.Helper()
	n := build(t, mustTopology(t, nettest.NewBuilder(name).Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2")))
	for _, h := range []string{"h1", "h2"} {
		serveEcho(t, node(t, n, h), "tcp", ":22")
		serveEcho(t, node(t, n, h), "tcp", ":80")
		serveEcho(t, node(t, n, h), "udp", ":53")
	}
	return n
}

// serveEcho runs an echo server in the node for the rest of the test.
func serveEcho(t *testing.T, nd *nettest.Node, network, address string) {
	t.Helper()
	_, stop, err := nd.Echo(network, address)
	require.NoError(t, err)
	t.Cleanup(func() { stop() })
}

// ruleLines returns each rule as "chain: text".
func ruleLines(rules []nettest.FirewallRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Chain+": "+r.Text)
	}
	return out
}

// short bounds the dials that are meant to time out.
var short = assertions.Timeout(300 * time.Millisecond)

// TestFirewallDeny: a Deny rule drops what it matches, silently (the dial
// times out), in both families, and nothing else.
func TestFirewallDeny(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-deny")
	h2 := node(t, n, "h2")
	require.True(t, assertions.CanDial(t, n, "h1", "tcp", "h2", 22))

	require.NoError(t, h2.Firewall().Deny(nettest.Rule{Proto: "tcp", DstPort: 22}))
	assertions.NoDial(t, n, "h1", "tcp", "h2", 22, short, assertions.TimedOut())
	assertions.CanDial(t, n, "h1", "tcp", "h2", 80)
	assertions.CanDial(t, n, "h1", "udp", "h2", 53)
	assertions.Ping(t, n, "h1", "h2")
	// The rule is on h2's input: h2's own connections out are not affected.
	assertions.CanDial(t, n, "h2", "tcp", "h1", 22)
}

// TestFirewallReject: Reject refuses at once: a TCP reset, an ICMP port
// unreachable for UDP.
func TestFirewallReject(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-reject")
	fw := node(t, n, "h2").Firewall()
	require.NoError(t, fw.Reject(nettest.Rule{Proto: "tcp", DstPort: 80}))
	require.NoError(t, fw.Reject(nettest.Rule{Proto: "udp", DstPort: 53}))
	assertions.NoDial(t, n, "h1", "tcp", "h2", 80, assertions.Refused())
	assertions.NoDial(t, n, "h1", "udp", "h2", 53, assertions.Refused())
	assertions.CanDial(t, n, "h1", "tcp", "h2", 22)
}

// TestFirewallAddresses: a rule on a source prefix, a destination address
// or one family applies to those packets only.
func TestFirewallAddresses(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("fw-addr").Host("h1", "h2", "h3").Router("r1").
		Chain("h1", "r1", "h2").Link("r1", "h3")))
	serveEcho(t, node(t, n, "h2"), "tcp", ":80")
	serveEcho(t, node(t, n, "h3"), "tcp", ":80")
	h1v4 := netip.PrefixFrom(addr(t, n, "h1", nettest.IPv4), 32)
	h2v6 := netip.PrefixFrom(addr(t, n, "h2", nettest.IPv6), 128)
	fw := node(t, n, "r1").Firewall()
	// h1's IPv4 address may not cross r1; h2's IPv6 address may not be reached.
	require.NoError(t, fw.Deny(nettest.Rule{Direction: nettest.Forward, Src: h1v4}))
	require.NoError(t, fw.Deny(nettest.Rule{Direction: nettest.Forward, Dst: h2v6}))

	assertions.NoPing(t, n, "h1", "h2", assertions.IPv4())
	assertions.NoPing(t, n, "h1", "h3", assertions.IPv4())
	assertions.Ping(t, n, "h1", "r1", assertions.IPv4()) // input, not forward
	assertions.NoPing(t, n, "h3", "h2", assertions.IPv6())
	assertions.Ping(t, n, "h3", "h2", assertions.IPv4())
	assertions.Ping(t, n, "h1", "h3", assertions.IPv6())
	assertions.NoDial(t, n, "h3", "tcp6", "h2", 80, short)
	assertions.CanDial(t, n, "h3", "tcp4", "h2", 80)

	// A family on its own: no IPv6 into h3 at all.
	require.NoError(t, node(t, n, "h3").Firewall().Deny(nettest.Rule{Family: nettest.IPv6}))
	assertions.NoPing(t, n, "h1", "h3", assertions.IPv6())
	assertions.Ping(t, n, "h2", "h3", assertions.IPv4())
}

// TestFirewallInterfaces: InIface and OutIface choose packets by the
// interface they cross; Output rules stop a node's own packets.
func TestFirewallInterfaces(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("fw-iface").Host("h1", "h2", "h3").Router("r1").
		Link("h1", "r1:a").Link("h2", "r1:b").Link("h3", "r1:c")))
	for _, h := range []string{"h1", "h2", "h3"} {
		serveEcho(t, node(t, n, h), "udp", ":53")
	}
	fw := node(t, n, "r1").Firewall()
	require.NoError(t, fw.Deny(nettest.Rule{Direction: nettest.Forward, InIface: "a", OutIface: "b"}))
	assertions.NoPing(t, n, "h1", "h2")
	assertions.Ping(t, n, "h1", "h3")
	assertions.Ping(t, n, "h3", "h2")

	require.NoError(t, node(t, n, "h3").Firewall().Deny(nettest.Rule{Direction: nettest.Output, OutIface: "eth0", Proto: "udp", DstPort: 53}))
	assertions.NoDial(t, n, "h3", "udp", "h1", 53, short)
	assertions.CanDial(t, n, "h1", "udp", "h3", 53) // the answers leave from port 53, to another port
}

// TestFirewallICMPType: ICMPType matches one message type of one family.
func TestFirewallICMPType(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-icmp")
	fw := node(t, n, "h2").Firewall()
	require.NoError(t, fw.Deny(nettest.Rule{Proto: "icmp", ICMPType: "echo-request"}))
	assertions.NoPing(t, n, "h1", "h2", assertions.IPv4())
	assertions.Ping(t, n, "h1", "h2", assertions.IPv6())
	require.NoError(t, fw.Deny(nettest.Rule{Proto: "icmpv6", ICMPType: "echo-request"}))
	assertions.NoPing(t, n, "h1", "h2", assertions.IPv6())
	assertions.CanDial(t, n, "h1", "tcp", "h2", 80) // IPv6 neighbour discovery still works
}

// TestFirewallDefaultDeny: with input denied by default, only what a rule
// allows comes in; the node keeps its loopback and IPv6 neighbour
// discovery (the policy is set before any packet, so no neighbour cache
// hides a missing rule); its own connections need Established.
func TestFirewallDefaultDeny(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-policy")
	fw := node(t, n, "h2").Firewall()
	require.NoError(t, fw.DefaultDeny(nettest.Input))

	assertions.NoPing(t, n, "h1", "h2")
	assertions.NoDial(t, n, "h1", "tcp", "h2", 80, short)
	require.NoError(t, fw.Allow(nettest.Rule{Proto: "tcp", DstPort: 80}))
	assertions.CanDial(t, n, "h1", "tcp", "h2", 80) // IPv6 too: neighbour discovery passes
	assertions.NoDial(t, n, "h1", "tcp", "h2", 22, short)
	assertions.CanDial(t, n, "h2", "tcp", "127.0.0.1", 22) // loopback
	assertions.CanDial(t, n, "h2", "tcp", "::1", 22)

	// h2's own connection out: its answers are input, dropped...
	assertions.NoDial(t, n, "h2", "tcp", "h1", 22, short)
	// ...until established connections may come in.
	require.NoError(t, fw.Allow(nettest.Rule{Established: true}))
	assertions.CanDial(t, n, "h2", "tcp", "h1", 22)
	require.NoError(t, fw.Allow(nettest.Rule{Proto: "icmp", ICMPType: "echo-request"}))
	require.NoError(t, fw.Allow(nettest.Rule{Proto: "icmpv6", ICMPType: "echo-request"}))
	assertions.Ping(t, n, "h1", "h2")

	require.NoError(t, fw.DefaultAllow(nettest.Input))
	assertions.CanDial(t, n, "h1", "tcp", "h2", 22)

	// Every chain at once, forward included.
	r1 := node(t, n, "r1").Firewall()
	require.NoError(t, r1.DefaultDeny())
	assertions.NoPing(t, n, "h1", "h2")
	require.NoError(t, r1.DefaultAllow())
	assertions.Ping(t, n, "h1", "h2")
}

// TestFirewallRulesAndClear: Rules lists what the kernel holds, in order,
// with counters; Clear removes nettest's table and nothing else: a table of
// the user's own, made through Conn, stays.
func TestFirewallRulesAndClear(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-rules")
	h2 := node(t, n, "h2")
	fw := h2.Firewall()
	rules, err := fw.Rules()
	require.NoError(t, err)
	require.Empty(t, rules, "no table before the first rule")

	// The user's own table, next to nettest's.
	c, err := fw.Conn()
	require.NoError(t, err)
	defer c.CloseLasting()
	mine := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "mine"})
	c.AddChain(&nftables.Chain{Name: "keep", Table: mine})
	require.NoError(t, c.Flush())

	require.NoError(t, fw.DefaultDeny(nettest.Input))
	require.NoError(t, fw.Allow(nettest.Rule{Proto: "tcp", DstPort: 80, Src: netip.MustParsePrefix("198.18.0.0/16")}))
	require.NoError(t, fw.Reject(nettest.Rule{Direction: nettest.Output, OutIface: "eth0", Proto: "udp", SrcPort: 53}))
	require.NoError(t, node(t, n, "r1").NAT().Masquerade("eth1"))
	require.NoError(t, h2.NAT().PortForward("tcp", 8080, netip.MustParseAddrPort("198.18.0.6:80")))
	assertions.CanDial(t, n, "h1", "tcp", "h2", 80, assertions.IPv4())

	rules, err = fw.Rules()
	require.NoError(t, err)
	require.Equal(t, []string{
		"input: policy drop",
		`input: nettest: loopback`,
		"input: nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)",
		"input: ip saddr 198.18.0.0/16 tcp dport 80 accept",
		"forward: policy accept",
		"output: policy accept",
		`output: nettest: loopback`,
		"output: nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)",
		`output: oifname eth0 udp sport 53 reject`,
		"prerouting: fib daddr type local tcp dport 8080 dnat ip to 198.18.0.6:80",
	}, ruleLines(rules))
	require.Equal(t, uint64(0), rules[0].Handle)
	require.Positive(t, rules[3].Handle)
	require.Positive(t, rules[3].Packets, "the allow rule counted the dial: %s", rules[3])
	require.Contains(t, rules[3].String(), "input: ip saddr 198.18.0.0/16 tcp dport 80 accept (")

	require.NoError(t, fw.Clear())
	rules, err = fw.Rules()
	require.NoError(t, err)
	require.Empty(t, rules)
	assertions.CanDial(t, n, "h1", "tcp", "h2", 22)
	require.NoError(t, fw.Clear(), "clearing twice")
	tables, err := c.ListTables()
	require.NoError(t, err)
	require.Len(t, tables, 1)
	require.Equal(t, "mine", tables[0].Name)
}

// TestFirewallRaw: rules of google/nftables expressions go into nettest's
// chains and take effect; the kernel judges them.
func TestFirewallRaw(t *testing.T) {
	t.Parallel()
	n := fwTopology(t, "fw-raw")
	fw := node(t, n, "h2").Firewall()
	// udp dport 53 drop
	require.NoError(t, fw.Raw("input",
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 53}},
		&expr.Verdict{Kind: expr.VerdictDrop},
	))
	assertions.NoDial(t, n, "h1", "udp", "h2", 53, short, assertions.TimedOut())
	assertions.CanDial(t, n, "h1", "tcp", "h2", 80)
	rules, err := fw.Rules()
	require.NoError(t, err)
	require.Contains(t, ruleLines(rules), "input: raw: meta cmp payload cmp verdict")

	err = fw.Raw("nat", &expr.Verdict{Kind: expr.VerdictAccept})
	require.EqualError(t, err, `node h2: firewall: Raw(nat): chain "nat": want input, forward, output, prerouting, postrouting`)
	// The kernel checks the expressions: masquerade is for NAT chains only.
	err = fw.Raw("input", &expr.Masq{})
	require.ErrorContains(t, err, "nettest: node h2: firewall: Raw(input): nftables: ")
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
}

// TestFirewallValidate: a rule's problems are found before any kernel
// call, each naming the field; no privilege needed.
func TestFirewallValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rule nettest.Rule
		want []string
	}{
		{nettest.Rule{Proto: "tcp", DstPort: 22}, nil},
		{nettest.Rule{Direction: nettest.Forward, Src: netip.MustParsePrefix("10.0.0.0/8"), Proto: "icmp", ICMPType: "echo-request"}, nil},
		{nettest.Rule{Proto: "sctp"}, []string{`rule input: meta l4proto sctp: Proto "sctp": want tcp, udp, icmp, icmpv6 or empty (any)`}},
		{nettest.Rule{DstPort: 22}, []string{`rule input: th dport 22: DstPort 22: ports need Proto tcp or udp (it is "")`}},
		{nettest.Rule{Proto: "udp", SrcPort: 70000}, []string{`rule input: udp sport 70000: SrcPort 70000: want 1 to 65535 (0: any)`}},
		{nettest.Rule{Proto: "icmp", ICMPType: "echo"}, []string{`rule input: icmp type echo: ICMPType: "echo" is no icmp type nettest knows (it knows echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply)`}},
		{nettest.Rule{Proto: "tcp", ICMPType: "echo-request"}, []string{`rule input: tcp type echo-request: ICMPType "echo-request": needs Proto icmp or icmpv6 (it is "tcp")`}},
		{nettest.Rule{Src: netip.MustParsePrefix("10.0.0.1/24")}, []string{`rule input: ip saddr 10.0.0.1/24: Src 10.0.0.1/24: has host bits set (the prefix is 10.0.0.0/24; an address is 10.0.0.1/32)`}},
		{nettest.Rule{Proto: "icmpv6", Dst: netip.MustParsePrefix("10.0.0.0/8")}, []string{`rule input: ip daddr 10.0.0.0/8 meta l4proto icmpv6: Proto icmpv6 is IPv6 but Dst 10.0.0.0/8 is IPv4`}},
		{nettest.Rule{Family: nettest.IPv4, Src: netip.MustParsePrefix("fd00::/8")}, []string{`rule input: ip6 saddr fd00::/8: Family is IPv4 but Src fd00::/8 is IPv6`}},
		{nettest.Rule{Direction: nettest.Output, InIface: "eth0"}, []string{`rule output: iifname eth0: InIface "eth0": output packets have no input interface (use OutIface)`}},
		{nettest.Rule{OutIface: "eth0"}, []string{`rule input: oifname eth0: OutIface "eth0": input packets have no output interface (use InIface)`}},
		{nettest.Rule{Direction: 7, Family: 5, InIface: "a-very-long-name0"}, []string{
			`rule Direction(7): iifname a-very-long-name0 meta nfproto Family(5): Direction 7: want Input, Output or Forward`,
			`rule Direction(7): iifname a-very-long-name0 meta nfproto Family(5): Family 5: want 0 (both), IPv4 or IPv6`,
			`rule Direction(7): iifname a-very-long-name0 meta nfproto Family(5): InIface "a-very-long-name0": longer than 15 bytes, so no interface has that name`,
		}},
	} {
		err := c.rule.Validate()
		if c.want == nil {
			require.NoError(t, err, "%s", c.rule)
			continue
		}
		require.Error(t, err, "%s", c.rule)
		require.Equal(t, c.want, strings.Split(err.Error(), "\n"))
		var ce *nettest.ConfigError
		require.ErrorAs(t, err, &ce)
	}
	typ, err := nettest.ICMPTypeNumber(nettest.IPv6, "echo-request")
	require.NoError(t, err)
	require.Equal(t, uint8(128), typ)
	require.Equal(t, "nd-neighbor-solicit", nettest.ICMPTypeName(nettest.IPv6, 135))
	require.Equal(t, "type 99", nettest.ICMPTypeName(nettest.IPv4, 99))
}

// TestFirewallErrors: the node's own checks (its interfaces, switches) and
// a closed network, each named.
func TestFirewallErrors(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("fw-err").Host("h1", "h2").LAN("lan", []string{"h1", "h2"})))
	fw := node(t, n, "h1").Firewall()
	err := fw.Deny(nettest.Rule{InIface: "eth9"})
	require.EqualError(t, err, `node h1: firewall: Deny(input: iifname eth9): InIface "eth9": node h1 has no such interface (it has lo, eth0)`)
	err = fw.Deny(nettest.Rule{Proto: "tcp", DstPort: 99999})
	require.EqualError(t, err, `node h1: firewall: Deny(input: tcp dport 99999): DstPort 99999: want 1 to 65535 (0: any)`)
	err = node(t, n, "lan").Firewall().DefaultDeny()
	require.EqualError(t, err, "node lan: firewall: DefaultDeny(input, forward, output): lan is a LAN switch: its bridge forwards frames without the IP hooks nftables filters in; filter on the LAN's members")
	err = fw.DefaultDeny(9)
	require.EqualError(t, err, "node h1: firewall: DefaultDeny(Direction(9)): Direction 9: want Input, Output or Forward")

	require.NoError(t, n.Close())
	err = fw.Allow(nettest.Rule{})
	require.EqualError(t, err, "nettest: node h1: the network is closed")
	_, err = fw.Rules()
	require.EqualError(t, err, "nettest: node h1: the network is closed")
}

// TestFirewallHostUntouched: filter rules, policies, NAT and captures in
// nodes leave the host's nftables ruleset (and the rest of its network
// state) as it was.
func TestFirewallHostUntouched(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	before, err := hoststate.Take()
	require.NoError(t, err)

	n := fwTopology(t, "fw-host")
	r1, h2 := node(t, n, "r1"), node(t, n, "h2")
	require.NoError(t, h2.Firewall().DefaultDeny())
	require.NoError(t, h2.Firewall().Deny(nettest.Rule{Proto: "tcp", DstPort: 22}))
	require.NoError(t, r1.Firewall().Reject(nettest.Rule{Direction: nettest.Forward, Proto: "udp"}))
	require.NoError(t, r1.NAT().Masquerade("eth1"))
	require.NoError(t, r1.NAT().SNAT(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParseAddr("198.18.0.5")))
	require.NoError(t, r1.NAT().PortForward("tcp", 8080, netip.MustParseAddrPort("198.18.0.1:22")))
	c, err := r1.Firewall().Conn()
	require.NoError(t, err)
	c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "mine"})
	require.NoError(t, c.Flush())
	require.NoError(t, c.CloseLasting())
	capture, err := r1.Capture("eth1", "")
	require.NoError(t, err)
	assertions.Ping(t, n, "h1", "r1")
	require.NoError(t, capture.Stop())

	mid, err := hoststate.Take()
	require.NoError(t, err)
	require.Empty(t, hoststate.Diff(before, mid), "the host changed while nodes had rules")
	rules, err := r1.Firewall().Rules()
	require.NoError(t, err)
	require.NotEmpty(t, rules)
	require.NoError(t, r1.Firewall().Clear())
	require.NoError(t, n.Close())

	after, err := hoststate.Take()
	require.NoError(t, err)
	require.Empty(t, hoststate.Diff(before, after), "the host's network state changed")
}

// A firewall on h2 that drops SSH from everywhere, and what it holds.
func ExampleFirewall() {
	n, err := nettest.NewBuilder("firewall").Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2").Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	h1, _ := n.Node("h1")
	h2, _ := n.Node("h2")
	_, stop, _ := h2.Echo("tcp", ":22")
	defer stop()

	fw := h2.Firewall()
	if err := fw.Deny(nettest.Rule{Proto: "tcp", DstPort: 22}); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = h1.DialContext(ctx, "tcp", "h2:22")
	fmt.Println("dial h2:22:", err != nil)

	rules, _ := fw.Rules()
	for _, r := range rules {
		fmt.Println(r.Chain + ": " + r.Text)
	}
	// Output:
	// dial h2:22: true
	// input: policy accept
	// input: nettest: loopback
	// input: nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)
	// input: tcp dport 22 drop
	// forward: policy accept
	// output: policy accept
	// output: nettest: loopback
	// output: nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)
}
