package ready

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Iface is an interface that should be up, and what readiness needs to
// know of it beyond the kernel's word.
type Iface struct {
	// Name and Index are the interface's in the namespace.
	Name  string
	Index int
	// Tap says it is a TAP device (a userspace link's end), whose
	// operstate is "unknown" when up.
	Tap bool
	// Addrs are its addresses; the solicited-node group of each IPv6 one
	// must be joined.
	Addrs []netip.Prefix
}

// Pending lists the interfaces that are not ready yet, each with the
// state the kernel reports: "eth0 (operstate down)". sock is a netlink
// socket in their namespace; ipv6 says whether the topology has IPv6
// addresses (then DAD is off, and the link-local address must be usable
// too).
func Pending(sock *nl.SocketHandle, ifaces []Iface, ipv6 bool) ([]string, error) {
	states, err := LinkStates(sock)
	if err != nil {
		return nil, err
	}
	var pending []string
	var groups map[int]map[netip.Addr]bool // dumped when first needed
	var linkLocal map[int]bool             // likewise
	for _, in := range ifaces {
		st, ok := states[in.Name]
		switch {
		case !ok:
			pending = append(pending, in.Name+" (missing)")
		case st.Oper != netlink.OperUp && !(st.Oper == netlink.OperUnknown && in.Tap):
			// A TAP device (a userspace link's end) reports "unknown", as the
			// kernel's own readiness test (netif_oper_up) allows.
			pending = append(pending, in.Name+" (operstate "+netlink.LinkOperState(st.Oper).String()+")")
		case st.HasInet6 && !st.Ready6:
			pending = append(pending, in.Name+" (transmit queue not active yet)")
		case st.HasInet6:
			if st.GenLL && ipv6 { // IPv4 topologies keep DAD: no wait for it
				if linkLocal == nil {
					if linkLocal, err = usableLinkLocal(sock); err != nil {
						return nil, err
					}
				}
				if !linkLocal[in.Index] {
					pending = append(pending, in.Name+" (IPv6 link-local address not usable yet)")
				}
			}
			for _, a := range in.Addrs {
				if !a.Addr().Is6() {
					continue
				}
				if groups == nil {
					if groups, err = ipv6Groups(sock); err != nil {
						return nil, err
					}
				}
				if g := SolicitedNode(a.Addr()); !groups[in.Index][g] {
					pending = append(pending, in.Name+" (IPv6 group "+g.String()+" of "+a.Addr().String()+" not joined yet)")
				}
			}
		}
	}
	return pending, nil
}

// LinkState is what readiness needs of one interface.
type LinkState struct {
	Oper     uint8 // operstate (IF_OPER_*)
	HasInet6 bool  // the interface has IPv6 on (not disable_ipv6)
	Ready6   bool  // IPv6 IF_READY: the kernel found the link ready
	GenLL    bool  // the kernel makes an IPv6 link-local address (addr_gen_mode not none)
}

// Constants of the kernel's IPv6 link attributes that x/sys/unix lacks.
const (
	ifReady            = 0x80000000 // IF_READY in IFLA_INET6_FLAGS
	devconfDisableIPv6 = 26         // DEVCONF_DISABLE_IPV6, index in IFLA_INET6_CONF
	addrGenModeNone    = 1          // IN6_ADDR_GEN_MODE_NONE in IFLA_INET6_ADDR_GEN_MODE
)

// SolicitedNode returns the solicited-node multicast group of an IPv6
// address (RFC 4291): ff02::1:ff00:0/104 and the address's low 24 bits.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	g := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return netip.AddrFrom16(g)
}

// ipv6Groups dumps the IPv6 multicast groups joined in the namespace, by
// interface index.
func ipv6Groups(sock *nl.SocketHandle) (map[int]map[netip.Addr]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETMULTICAST, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: sock}
	req.AddData(nl.NewIfAddrmsg(unix.AF_INET6))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if err != nil {
		return nil, fmt.Errorf("listing IPv6 multicast groups: %w", err)
	}
	out := map[int]map[netip.Addr]bool{}
	for _, m := range msgs {
		if len(m) < unix.SizeofIfAddrmsg {
			continue
		}
		index := int(nl.NativeEndian().Uint32(m[4:8]))
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfAddrmsg:])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type != unix.IFA_MULTICAST {
				continue
			}
			if g, ok := netip.AddrFromSlice(a.Value); ok {
				if out[index] == nil {
					out[index] = map[netip.Addr]bool{}
				}
				out[index][g] = true
			}
		}
	}
	return out, nil
}

// usableLinkLocal dumps the namespace's IPv6 addresses and says, by
// interface index, which interfaces have a link-local address that is
// neither tentative nor failed.
func usableLinkLocal(sock *nl.SocketHandle) (map[int]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: sock}
	req.AddData(nl.NewIfAddrmsg(unix.AF_INET6))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
	if err != nil {
		return nil, fmt.Errorf("listing IPv6 addresses: %w", err)
	}
	out := map[int]bool{}
	for _, m := range msgs {
		if len(m) < unix.SizeofIfAddrmsg {
			continue
		}
		flags := uint32(m[2])
		index := int(nl.NativeEndian().Uint32(m[4:8]))
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfAddrmsg:])
		if err != nil {
			return nil, err
		}
		var addr netip.Addr
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(a.Value)
			case unix.IFA_FLAGS:
				if len(a.Value) >= 4 {
					flags = nl.NativeEndian().Uint32(a.Value)
				}
			}
		}
		if addr.IsLinkLocalUnicast() && flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			out[index] = true
		}
	}
	return out, nil
}

// LinkStates dumps the namespace's links through sock, a netlink socket
// in it, and reads operstate and IPv6 readiness, by name.
func LinkStates(sock *nl.SocketHandle) (map[string]LinkState, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: sock}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	out := make(map[string]LinkState, len(msgs))
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, err
		}
		var name string
		var st LinkState
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				name = strings.TrimRight(string(a.Value), "\x00")
			case unix.IFLA_OPERSTATE:
				if len(a.Value) > 0 {
					st.Oper = a.Value[0]
				}
			case unix.IFLA_AF_SPEC:
				st.HasInet6, st.Ready6, st.GenLL = inet6State(a.Value)
			}
		}
		out[name] = st
	}
	return out, nil
}

// inet6State reads IFLA_AF_SPEC: whether IPv6 is on for the interface,
// whether its IF_READY flag is set, and whether the kernel makes it a
// link-local address.
func inet6State(spec []byte) (on, ready, genLL bool) {
	fams, err := nl.ParseRouteAttr(spec)
	if err != nil {
		return false, false, false
	}
	for _, f := range fams {
		if f.Attr.Type != unix.AF_INET6 {
			continue
		}
		attrs, err := nl.ParseRouteAttr(f.Value)
		if err != nil {
			return false, false, false
		}
		on, genLL = true, true
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_INET6_FLAGS:
				if len(a.Value) >= 4 {
					ready = nl.NativeEndian().Uint32(a.Value)&ifReady != 0
				}
			case unix.IFLA_INET6_ADDR_GEN_MODE:
				genLL = len(a.Value) < 1 || a.Value[0] != addrGenModeNone
			case unix.IFLA_INET6_CONF:
				if off := 4 * devconfDisableIPv6; len(a.Value) >= off+4 && nl.NativeEndian().Uint32(a.Value[off:]) != 0 {
					on = false
				}
			}
		}
	}
	return on, ready, genLL
}
