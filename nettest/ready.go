package nettest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// readyTimeout bounds the wait for interfaces to come up when the caller's
// context has no earlier deadline.
const readyTimeout = 10 * time.Second

// waitReady returns when every interface of the nodes that nettest set up
// is ready to carry packets, or says which are not.
//
// "Ready" is the kernel's own test (addrconf_link_ready): operstate UP and
// the transmit queue activated. A veth's carrier comes on when both ends are
// up; the kernel's linkwatch then sets operstate, activates the queue and
// announces the change, in that order, and a packet sent before the queue is
// active is dropped. Operstate alone can be seen too early, so where IPv6 is
// on, the interface's IPv6 IF_READY flag, which the kernel sets only after
// the queue is active, must be set too.
//
// An IPv6 address added without DAD is usable at once as a source, but the
// kernel joins its solicited-node multicast group later, from a work queue;
// until then a neighbour's first solicitation for it is dropped and
// resolution waits a second for the retry. So the groups of every IPv6
// address must be joined as well.
//
// The kernel makes each interface's IPv6 link-local address itself, and
// even without DAD it stays tentative until a work queue gets to it. Until
// then a router forwarding a packet cannot solicit the next hop (the
// solicitation needs a usable link-local source) and the packet waits a
// second for the retry. So, in a topology with IPv6 addresses (where DAD is
// off), an interface's link-local address, if it has one, must be usable
// too.
func waitReady(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ipv6 := len(nodes) > 0 && nodes[0].net.plan.hasIPv6()
	for _, node := range nodes {
		pause := 20 * time.Microsecond
		for {
			pending, err := node.notReady(ipv6)
			if err != nil {
				return fmt.Errorf("%s: listing interfaces: %w", node.where(), err)
			}
			if len(pending) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: interfaces not ready: %s: %w", node.where(), strings.Join(pending, ", "), ctx.Err())
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Millisecond)
		}
	}
	return nil
}

// linkState is what readiness needs of one interface.
type linkState struct {
	oper     uint8
	hasInet6 bool // the interface has IPv6 on (not disable_ipv6)
	ready6   bool // IPv6 IF_READY: the kernel found the link ready
	genLL    bool // the kernel makes an IPv6 link-local address (addr_gen_mode not none)
}

// Constants of the kernel's IPv6 link attributes that x/sys/unix lacks.
const (
	ifReady            = 0x80000000 // IF_READY in IFLA_INET6_FLAGS
	devconfDisableIPv6 = 26         // DEVCONF_DISABLE_IPV6, index in IFLA_INET6_CONF
	addrGenModeNone    = 1          // IN6_ADDR_GEN_MODE_NONE in IFLA_INET6_ADDR_GEN_MODE
)

// notReady lists the node's interfaces that should be up but are not ready
// yet, each with the state the kernel reports. ipv6 says whether the
// topology has IPv6 addresses.
func (n *Node) notReady(ipv6 bool) ([]string, error) {
	states, err := n.ns.linkStates()
	if err != nil {
		return nil, err
	}
	var pending []string
	var groups map[int]map[netip.Addr]bool // dumped when first needed
	var linkLocal map[int]bool             // likewise
	for _, in := range n.ifaces {
		if !in.up.Load() {
			continue
		}
		if p := in.Peer(); p != nil && !p.up.Load() && !in.isTap() {
			continue // a veth end whose other end is down has no carrier
		}
		st, ok := states[in.p.name]
		switch {
		case !ok:
			pending = append(pending, in.p.name+" (missing)")
		case st.oper != netlink.OperUp && !(st.oper == netlink.OperUnknown && in.isTap()):
			// A TAP device (a userspace link's end) reports "unknown", as the
			// kernel's own readiness test (netif_oper_up) allows.
			pending = append(pending, in.p.name+" (operstate "+netlink.LinkOperState(st.oper).String()+")")
		case st.hasInet6 && !st.ready6:
			pending = append(pending, in.p.name+" (transmit queue not active yet)")
		case st.hasInet6:
			if st.genLL && ipv6 { // IPv4 topologies keep DAD: no wait for it
				if linkLocal == nil {
					if linkLocal, err = n.ns.usableLinkLocal(); err != nil {
						return nil, err
					}
				}
				if !linkLocal[in.index()] {
					pending = append(pending, in.p.name+" (IPv6 link-local address not usable yet)")
				}
			}
			for _, a := range in.p.addrs {
				if !a.Addr().Is6() {
					continue
				}
				if groups == nil {
					if groups, err = n.ns.ipv6Groups(); err != nil {
						return nil, err
					}
				}
				if g := solicitedNode(a.Addr()); !groups[in.index()][g] {
					pending = append(pending, in.p.name+" (IPv6 group "+g.String()+" of "+a.Addr().String()+" not joined yet)")
				}
			}
		}
	}
	return pending, nil
}

// solicitedNode returns the solicited-node multicast group of an IPv6
// address (RFC 4291): ff02::1:ff00:0/104 and the address's low 24 bits.
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	g := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return netip.AddrFrom16(g)
}

// ipv6Groups dumps the IPv6 multicast groups joined in the namespace, by
// interface index.
func (ns *namespace) ipv6Groups() (map[int]map[netip.Addr]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETMULTICAST, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: ns.raw}
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
func (ns *namespace) usableLinkLocal() (map[int]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: ns.raw}
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

// linkStates dumps the namespace's links through the namespace's raw
// netlink socket and reads operstate and IPv6 readiness, by name.
func (ns *namespace) linkStates() (map[string]linkState, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: ns.raw}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	out := make(map[string]linkState, len(msgs))
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, err
		}
		var name string
		var st linkState
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				name = strings.TrimRight(string(a.Value), "\x00")
			case unix.IFLA_OPERSTATE:
				if len(a.Value) > 0 {
					st.oper = a.Value[0]
				}
			case unix.IFLA_AF_SPEC:
				st.hasInet6, st.ready6, st.genLL = inet6State(a.Value)
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

// kernelError marks errors that mean "this kernel has no such feature".
func kernelError(feature string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("kernel lacks %s support: %w (%v)", feature, ErrUnsupported, err)
	}
	return err
}
