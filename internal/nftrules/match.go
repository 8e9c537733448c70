package nftrules

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Match is what a filter rule matches, already checked: every field set
// must match, the zero Match matches every packet.
type Match struct {
	// Family is the one family the rule's fields imply (IPv4, IPv6), or 0
	// for both.
	Family int
	// Proto is "tcp", "udp", "icmp", "icmpv6" or "" (any).
	Proto string
	// Src and Dst are address prefixes; the zero Prefix matches any.
	Src, Dst netip.Prefix
	// SrcPort and DstPort are TCP or UDP ports; 0 matches any.
	SrcPort, DstPort int
	// ICMPType is an ICMP or ICMPv6 type's nftables name (Proto icmp or
	// icmpv6).
	ICMPType string
	// InIface and OutIface name the input and output interface.
	InIface, OutIface string
	// Established matches conntrack's established and related states.
	Established bool
}

// Text renders what m matches in nft(8) syntax; "" for every packet.
func (m Match) Text() string {
	var parts []string
	if m.InIface != "" {
		parts = append(parts, "iifname "+m.InIface)
	}
	if m.OutIface != "" {
		parts = append(parts, "oifname "+m.OutIface)
	}
	if m.Family != 0 && !m.Src.IsValid() && !m.Dst.IsValid() && ICMPFamily(m.Proto) == 0 {
		parts = append(parts, "meta nfproto "+nfprotoName(m.Family))
	}
	for _, a := range []struct {
		dir string
		v   netip.Prefix
	}{{"saddr", m.Src}, {"daddr", m.Dst}} {
		if a.v.IsValid() {
			parts = append(parts, fmt.Sprintf("%s %s %s", IPKeyword(familyOf(a.v.Addr())), a.dir, PrefixText(a.v)))
		}
	}
	switch {
	case m.ICMPType != "":
		parts = append(parts, m.Proto+" type "+m.ICMPType)
	case m.SrcPort != 0 || m.DstPort != 0:
		proto := cmp.Or(m.Proto, "th") // "th": nft's transport header, whatever the protocol
		if m.SrcPort != 0 {
			parts = append(parts, fmt.Sprintf("%s sport %d", proto, m.SrcPort))
		}
		if m.DstPort != 0 {
			parts = append(parts, fmt.Sprintf("%s dport %d", proto, m.DstPort))
		}
	case m.Proto != "":
		parts = append(parts, "meta l4proto "+m.Proto)
	}
	if m.Established {
		parts = append(parts, "ct state established,related")
	}
	return strings.Join(parts, " ")
}

// Exprs returns the expressions that match what m matches. Every match
// loads into register 1 and compares.
func (m Match) Exprs() ([]expr.Any, error) {
	var out []expr.Any
	if m.InIface != "" {
		out = append(out, ifaceMatch(expr.MetaKeyIIFNAME, m.InIface)...)
	}
	if m.OutIface != "" {
		out = append(out, ifaceMatch(expr.MetaKeyOIFNAME, m.OutIface)...)
	}
	if m.Family != 0 {
		out = append(out, nfproto(m.Family)...)
	}
	if m.Src.IsValid() {
		out = append(out, addrMatch(m.Src, true)...)
	}
	if m.Dst.IsValid() {
		out = append(out, addrMatch(m.Dst, false)...)
	}
	if m.Proto != "" {
		p, ok := protoNumbers[m.Proto]
		if !ok {
			return nil, fmt.Errorf("protocol %q: want tcp, udp, icmp or icmpv6", m.Proto)
		}
		out = append(out, l4proto(p)...)
	}
	if m.SrcPort != 0 {
		out = append(out, portMatch(0, m.SrcPort)...)
	}
	if m.DstPort != 0 {
		out = append(out, portMatch(2, m.DstPort)...)
	}
	if m.ICMPType != "" {
		typ, err := ICMPTypeNumber(ICMPFamily(m.Proto), m.ICMPType)
		if err != nil {
			return nil, err
		}
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}})
	}
	if m.Established {
		zero := make([]byte, 4)
		out = append(out,
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: zero},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: zero})
	}
	return out, nil
}

// Verdict is what a rule does with the packets it matches.
type Verdict int

// Verdicts.
const (
	Accept Verdict = iota
	Drop
	Reject
)

// exprs returns the verdict's expressions and its text, for a rule on proto.
func (v Verdict) exprs(proto string) ([]expr.Any, string) {
	switch v {
	case Drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}, "drop"
	case Reject:
		if proto == "tcp" {
			return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}, "reject with tcp reset"
		}
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}}, "reject"
	}
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}, "accept"
}

// Rule renders a filter rule: m's match, a counter and the verdict, and
// its nft(8) text ("tcp dport 22 drop").
func Rule(m Match, v Verdict) ([]expr.Any, string, error) {
	exprs, err := m.Exprs()
	if err != nil {
		return nil, "", err
	}
	vx, vtext := v.exprs(m.Proto)
	exprs = append(append(exprs, &expr.Counter{}), vx...)
	return exprs, strings.TrimSpace(m.Text() + " " + vtext), nil
}

func familyOf(a netip.Addr) int {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

func nfprotoName(f int) string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("Family(%d)", f) // as nettest.Family writes it
}

// IPKeyword returns nft's keyword for a family's header: "ip" or "ip6".
func IPKeyword(f int) string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// PrefixText writes an address without its full-length prefix, as nft does.
func PrefixText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP, "icmpv6": unix.IPPROTO_ICMPV6}

func ifaceMatch(key expr.MetaKey, name string) []expr.Any {
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data}}
}

func nfproto(f int) []expr.Any {
	v := byte(unix.NFPROTO_IPV4)
	if f == IPv6 {
		v = unix.NFPROTO_IPV6
	}
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{v}}}
}

func l4proto(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}}}
}

// addrMatch matches the source (src) or destination address against p;
// the caller has matched the family.
func addrMatch(p netip.Prefix, src bool) []expr.Any {
	a := p.Addr()
	offset := uint32(16) // IPv4 daddr
	switch {
	case a.Is4() && src:
		offset = 12
	case a.Is6() && src:
		offset = 8
	case a.Is6():
		offset = 24
	}
	size := uint32(a.BitLen() / 8)
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size}}
	if p.Bits() < a.BitLen() {
		m := make([]byte, size)
		for i := range p.Bits() {
			m[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: m, Xor: make([]byte, size)})
		a = p.Masked().Addr()
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

// portMatch matches the transport header's source (offset 0) or
// destination (offset 2) port.
func portMatch(offset uint32, port int) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
	}
}
