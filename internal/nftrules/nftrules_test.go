package nftrules_test

import (
	"net/netip"
	"os"
	"reflect"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/nftrules"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// TestRule renders a few rules and compares them with the expressions and
// the nft(8) text nft itself would give them.
func TestRule(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     nftrules.Match
		v     nftrules.Verdict
		text  string
		exprs []expr.Any
	}{
		{
			name: "every packet", v: nftrules.Accept, text: "accept",
			exprs: []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}},
		},
		{
			name: "tcp dport", m: nftrules.Match{Proto: "tcp", DstPort: 22}, v: nftrules.Reject,
			text: "tcp dport 22 reject with tcp reset",
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 22}},
				&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
			},
		},
		{
			name: "iifname and ipv4 source prefix", v: nftrules.Drop,
			m:    nftrules.Match{Family: nftrules.IPv4, InIface: "eth1", Src: netip.MustParsePrefix("10.0.0.0/24")},
			text: "iifname eth1 ip saddr 10.0.0.0/24 drop",
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("eth1")},
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: []byte{0, 0, 0, 0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 0, 0, 0}},
				&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop},
			},
		},
		{
			name: "icmpv6 type to an address", v: nftrules.Reject,
			m:    nftrules.Match{Family: nftrules.IPv6, Proto: "icmpv6", ICMPType: "echo-request", Dst: netip.MustParsePrefix("fd00::1/128")},
			text: "ip6 daddr fd00::1 icmpv6 type echo-request reject",
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: netip.MustParseAddr("fd00::1").AsSlice()},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{128}},
				&expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH},
			},
		},
		{
			name: "family alone, established", v: nftrules.Accept,
			m:    nftrules.Match{Family: nftrules.IPv6, Established: true},
			text: "meta nfproto ipv6 ct state established,related accept",
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
				&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: []byte{0, 0, 0, 0}},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
				&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
		{
			name: "any protocol's ports", v: nftrules.Drop,
			m:    nftrules.Match{SrcPort: 53},
			text: "th sport 53 drop",
			exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 53}},
				&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exprs, text, err := nftrules.Rule(tc.m, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if text != tc.text {
				t.Errorf("text %q, want %q", text, tc.text)
			}
			if !reflect.DeepEqual(exprs, tc.exprs) {
				t.Errorf("expressions differ:\n got %#v\nwant %#v", exprs, tc.exprs)
			}
		})
	}
}

// TestRuleUnknownICMPType: a name the tables lack is an error, not a rule
// that matches type 0.
func TestRuleUnknownICMPType(t *testing.T) {
	_, _, err := nftrules.Rule(nftrules.Match{Proto: "icmp", ICMPType: "echo-requets"}, nftrules.Drop)
	if err == nil {
		t.Fatal("no error for an unknown ICMP type")
	}
}

func TestNATText(t *testing.T) {
	if _, text := nftrules.Masquerade("eth1"); text != "oifname eth1 masquerade" {
		t.Errorf("Masquerade: %q", text)
	}
	if _, text := nftrules.SNAT(netip.MustParsePrefix("10.0.0.0/24"), netip.MustParseAddr("198.51.100.1")); text != "ip saddr 10.0.0.0/24 snat ip to 198.51.100.1" {
		t.Errorf("SNAT: %q", text)
	}
	exprs, text := nftrules.PortForward("tcp", 8080, netip.MustParseAddrPort("[fd00::2]:80"))
	if text != "fib daddr type local tcp dport 8080 dnat ip6 to [fd00::2]:80" {
		t.Errorf("PortForward: %q", text)
	}
	nat, ok := exprs[len(exprs)-1].(*expr.NAT)
	if !ok || nat.Type != expr.NATTypeDestNAT || nat.Family != unix.NFPROTO_IPV6 {
		t.Errorf("PortForward ends in %#v, want an IPv6 destination NAT", exprs[len(exprs)-1])
	}
}

func TestICMPTypes(t *testing.T) {
	for _, tc := range []struct {
		family int
		name   string
		typ    uint8
	}{{nftrules.IPv4, "echo-request", 8}, {nftrules.IPv6, "echo-request", 128}, {nftrules.IPv6, "nd-neighbor-advert", 136}, {nftrules.IPv4, "time-exceeded", 11}} {
		typ, err := nftrules.ICMPTypeNumber(tc.family, tc.name)
		if err != nil || typ != tc.typ {
			t.Errorf("ICMPTypeNumber(%d, %q) = %d, %v; want %d", tc.family, tc.name, typ, err, tc.typ)
		}
		if name := nftrules.ICMPTypeName(tc.family, tc.typ); name != tc.name {
			t.Errorf("ICMPTypeName(%d, %d) = %q, want %q", tc.family, tc.typ, name, tc.name)
		}
	}
	if name := nftrules.ICMPTypeName(nftrules.IPv4, 200); name != "type 200" {
		t.Errorf("ICMPTypeName of an unnamed type: %q", name)
	}
	if _, err := nftrules.ICMPTypeNumber(nftrules.IPv6, "echo"); err == nil {
		t.Error("ICMPTypeNumber of an unknown name: no error")
	}
}
