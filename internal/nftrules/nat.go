package nftrules

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Masquerade renders a rule of the postrouting chain that rewrites the
// source of packets leaving through outIface to its address.
func Masquerade(outIface string) ([]expr.Any, string) {
	exprs := append(ifaceMatch(expr.MetaKeyOIFNAME, outIface), &expr.Counter{}, &expr.Masq{})
	return exprs, "oifname " + outIface + " masquerade"
}

// SNAT renders a rule of the postrouting chain that rewrites the source of
// packets from src (of to's family; the zero-length prefix matches all) to
// the address to.
func SNAT(src netip.Prefix, to netip.Addr) ([]expr.Any, string) {
	f := familyOf(to)
	exprs := nfproto(f)
	if src.Bits() > 0 {
		exprs = append(exprs, addrMatch(src, true)...)
	}
	exprs = append(exprs, &expr.Counter{},
		&expr.Immediate{Register: 1, Data: to.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: natFamily(f), RegAddrMin: 1},
	)
	return exprs, fmt.Sprintf("%s saddr %s snat %s to %s", IPKeyword(f), PrefixText(src), IPKeyword(f), to)
}

// PortForward renders a rule of the prerouting chain that sends what
// reaches port (proto "tcp" or "udp") on any of the node's own addresses on
// to the address and port to.
func PortForward(proto string, port int, to netip.AddrPort) ([]expr.Any, string) {
	f := familyOf(to.Addr())
	exprs := append(nfproto(f),
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	)
	exprs = append(exprs, l4proto(protoNumbers[proto])...)
	exprs = append(exprs, portMatch(2, port)...)
	exprs = append(exprs, &expr.Counter{},
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(to.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: natFamily(f), RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	return exprs, fmt.Sprintf("fib daddr type local %s dport %d dnat %s to %s", proto, port, IPKeyword(f), to)
}

func natFamily(f int) uint32 {
	if f == IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}
