package nettest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/taplink"
)

// Interface is a live network interface of a node (one end of a veth pair, or
// a LAN switch's bridge).
type Interface struct {
	node *Node
	p    *ifacePlan
	link *Link
	idx  atomic.Int64 // the kernel's index, once known
	up   atomic.Bool  // administrative state nettest set (changed under Network.mu)

	lossRule bool // an nftables loss rule is installed on it (MechanismKernel)

	addrsAdded bool // Build added its addresses already

}

func newInterface(node *Node, p *ifacePlan) *Interface {
	in := &Interface{node: node, p: p}
	in.up.Store(true)
	return in
}

// Name returns the interface's name inside its node.
func (in *Interface) Name() string { return in.p.name }

// Node returns the node the interface belongs to.
func (in *Interface) Node() *Node { return in.node }

// String returns "node:iface".
func (in *Interface) String() string { return in.p.String() }

// Index returns the kernel's interface index inside the node's namespace.
func (in *Interface) Index() int { return in.index() }

// MAC returns the interface's hardware address.
func (in *Interface) MAC() net.HardwareAddr { return append(net.HardwareAddr(nil), in.p.mac...) }

// MTU returns the interface's MTU as configured, 0 for the kernel's default.
func (in *Interface) MTU() int { return in.p.mtu }

// Addrs returns the interface's addresses with their prefix lengths.
func (in *Interface) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), in.p.addrs...) }

// Addr returns the interface's first address of family f. The error says
// the interface has none, as [Node.Addr]'s and [Network.Addr]'s do.
func (in *Interface) Addr(f Family) (netip.Addr, error) {
	for _, a := range in.p.addrs {
		if FamilyOf(a.Addr()) == f {
			return a.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("nettest: %s has no %s address", in, f)
}

// Link returns the veth pair the interface is an end of (nil for a bridge).
func (in *Interface) Link() *Link { return in.link }

// Peer returns the other end of the interface's veth pair (nil for a bridge).
func (in *Interface) Peer() *Interface {
	switch {
	case in.link == nil:
		return nil
	case in.link.a == in:
		return in.link.b
	}
	return in.link.a
}

func (in *Interface) index() int {
	if i := in.idx.Load(); i != 0 {
		return int(i)
	}
	return in.p.index
}

func (in *Interface) netlinkLink() netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: in.index(), Name: in.p.name}}
}

// addAddrs adds the interface's addresses (IPv6 without DAD); with replace,
// it re-adds them where the kernel dropped them.
func (in *Interface) addAddrs(replace bool) error {
	for _, a := range in.p.addrs {
		addr := &netlink.Addr{IPNet: ipnet(a)}
		if a.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		var err error
		if replace {
			err = in.node.ns.nl.AddrReplace(in.netlinkLink(), addr)
		} else {
			err = in.node.ns.nl.AddrAdd(in.netlinkLink(), addr)
		}
		if err != nil {
			return fmt.Errorf("%s: interface %s: address %s: %w", in.node.where(), in.p.name, a, err)
		}
	}
	return nil
}

// renewIPv6Addrs deletes the interface's IPv6 addresses and adds them anew,
// for an interface brought back up.
//
// The kernel keeps IPv6 addresses over a down (keep_addr_on_down) and, when
// the interface comes up, puts their local routes back only later, from a
// work queue. Set down again before that work ran, an address stays
// without its local route for good: later ups do not restore it, and the
// address, though listed, is not the node's any more (what comes to it is
// forwarded back out, as to a neighbour). Only an address added anew gets
// its local route back.
func (in *Interface) renewIPv6Addrs() error {
	for _, a := range in.p.addrs {
		if !a.Addr().Is6() {
			continue
		}
		addr := &netlink.Addr{IPNet: ipnet(a), Flags: unix.IFA_F_NODAD}
		err := in.node.ns.nl.AddrDel(in.netlinkLink(), addr)
		if err == nil || errors.Is(err, unix.EADDRNOTAVAIL) {
			err = in.node.ns.nl.AddrAdd(in.netlinkLink(), addr)
		}
		if err != nil {
			return fmt.Errorf("%s: interface %s: address %s: %w", in.node.where(), in.p.name, a, err)
		}
	}
	return nil
}

// Link is a live veth pair: a link of the topology, or a LAN member's
// attachment to its switch.
type Link struct {
	net  *Network
	p    *linkPlan
	a, b *Interface

	mech   Mechanism     // how it is impaired; guarded by Network.mu after Build
	impair Impairments   // what it is impaired with
	tap    *taplink.Link // the forwarder, for MechanismUserspace
}

// Name returns the link's name: "r1-r2", the LinkConfig's Name, or
// "lan:port" for a LAN attachment.
func (l *Link) Name() string { return l.p.name }

// String returns the link's name.
func (l *Link) String() string { return l.p.name }

// A returns the end created first: the link's A end, or the switch port of a
// LAN attachment.
func (l *Link) A() *Interface { return l.a }

// B returns the other end: the link's B end, or the LAN member's interface.
func (l *Link) B() *Interface { return l.b }

// create makes the veth pair with both ends directly in their namespaces,
// the A end up, named, addressed by MAC and index; then brings B up.
func (l *Link) create() error {
	imp := l.p.impairments()
	m, err := mechanismFor(l.p.via, imp, netemAvailable, false)
	if err != nil {
		// The link asks for what this kernel cannot make: a ConfigError
		// naming it, wrapping the cause (ErrUnsupported).
		c := linkAt(l.p.idx, l.p.name).field("ImpairVia", string(l.p.via))
		c.Problem, c.Err = err.Error(), err
		return fmt.Errorf("nettest: %w", &c)
	}
	l.mech, l.impair = m, imp
	if m == MechanismUserspace {
		return l.createTap(imp)
	}
	if err := l.createOnce(); err != nil {
		return err
	}
	if m == MechanismNetem || m == MechanismKernel {
		return l.applyKernel(m, imp)
	}
	return nil
}

func (l *Link) createOnce() error {
	a, b := l.a, l.b
	if b.p.index == 0 {
		b.p.index = l.peerIndex()
	}
	// Indexes nettest picks may be taken by interfaces the kernel
	// numbered itself (a TAP device's, say): pick others.
	for tries := 0; ; tries++ {
		err := b.node.ns.withFD(func(bfd netns.NsHandle) error {
			return a.node.ns.with(func(c *nsConn) error { return l.addVeth(c, bfd) })
		})
		if errors.Is(err, unix.EBUSY) && tries < 16 {
			a.p.index = a.node.p.alloc()
			b.p.index = l.peerIndex()
			continue
		}
		if err != nil {
			return fmt.Errorf("nettest: link %s: creating veth %s <-> %s: %w", l.p.name, a, b, kernelError("veth", err))
		}
		break
	}
	b.idx.Store(int64(b.p.index))
	if err := b.node.ns.nl.LinkSetUp(b.netlinkLink()); err != nil {
		return fmt.Errorf("nettest: link %s: bringing %s up: %w", l.p.name, b, err)
	}
	return nil
}

// peerIndex picks the index of the B end in its namespace: the next one
// below firstIndex, from 2 up, as the kernel would number it (so that
// interfaces list in the same order), then the next one of the node's own
// (never the A end's, see firstIndex).
func (l *Link) peerIndex() int {
	np := l.b.node.p
	if np.nextPeer < 2 {
		np.nextPeer = 2
	}
	if np.nextPeer < firstIndex {
		np.nextPeer++
		return np.nextPeer - 1
	}
	i := np.alloc()
	if i == l.a.p.index {
		i = np.alloc()
	}
	return i
}

// addVeth makes the veth pair in one request on c, A's sockets: the A end
// in A's namespace, up, the B end in bfd's, both named, with their MACs,
// MTU and indexes, A in its bridge if it is a switch port.
func (l *Link) addVeth(c *nsConn, bfd netns.NsHandle) error {
	a, b := l.a, l.b
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(a.p.index)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(a.p.name)))
	if a.p.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(a.p.mtu))))
	}
	// One queue each way, which is what a veth uses anyway: asked for
	// nothing, the kernel allocates one per CPU and then cuts the number in
	// use down to one, which waits for an expedited RCU grace period (all
	// CPUs interrupted) for each end, most of a veth's cost on a busy
	// machine.
	req.AddData(nl.NewRtAttr(unix.IFLA_NUM_TX_QUEUES, nl.Uint32Attr(1)))
	req.AddData(nl.NewRtAttr(unix.IFLA_NUM_RX_QUEUES, nl.Uint32Attr(1)))
	if len(a.p.mac) > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_ADDRESS, a.p.mac))
	}
	if master := a.p.master; master != nil {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master.index))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	pm := nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	// Not up yet: the kernel opens the peer before it joins it to the A
	// end, and opening a veth without peer fails (ENOTCONN).
	pm.Index = int32(b.p.index)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(b.p.name))
	if a.p.mtu > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(a.p.mtu)))
	}
	peer.AddRtAttr(unix.IFLA_NUM_TX_QUEUES, nl.Uint32Attr(1))
	peer.AddRtAttr(unix.IFLA_NUM_RX_QUEUES, nl.Uint32Attr(1))
	if len(b.p.mac) > 0 {
		peer.AddRtAttr(unix.IFLA_ADDRESS, b.p.mac)
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(bfd)))
	req.AddData(info)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.raw}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// SetDown sets both ends of the link administratively down, as a cable
// pulled with both interfaces shut. The kernel drops the routes that use
// them; routes with a higher metric elsewhere take over, as in a real
// router; automatic routes follow (see Auto.Routes) before it returns.
func (l *Link) SetDown() error {
	return l.net.use("link "+l.p.name, l.setDown)
}

func (l *Link) setDown() error {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	if err := l.cut(); err != nil {
		return err
	}
	return l.net.reroute()
}

// cut sets both ends down, with the network's lock held; the caller
// reroutes once it has cut all it cuts.
func (l *Link) cut() error {
	for _, in := range []*Interface{l.a, l.b} {
		if err := in.node.ns.nl.LinkSetDown(in.netlinkLink()); err != nil {
			return fmt.Errorf("nettest: link %s: setting %s down: %w", l.p.name, in, err)
		}
		in.up.Store(false)
	}
	return nil
}

// SetUp brings both ends back up and restores what the kernel removed when
// they went down: addresses and the static routes of both nodes whose next
// hops are all on interfaces that are up. It returns when both ends are up
// again (operstate checked), or when ctx ends.
func (l *Link) SetUp(ctx context.Context) error {
	if ctx == nil {
		return nilContext("nettest: link "+l.p.name, "SetUp")
	}
	return l.net.use("link "+l.p.name, func() error { return l.setUp(ctx) })
}

func (l *Link) setUp(ctx context.Context) error {
	l.net.mu.Lock()
	var wait []*Node
	for _, in := range []*Interface{l.a, l.b} {
		nodes, err := in.bringUp()
		if err != nil {
			l.net.mu.Unlock()
			return err
		}
		wait = append(wait, nodes...)
	}
	err := l.net.reroute()
	l.net.mu.Unlock()
	if err != nil {
		return err
	}
	// The lock is not held while waiting: other links may change meanwhile.
	if err := waitReady(ctx, wait); err != nil {
		return err
	}
	// Going down flushed both ends' neighbour entries.
	return l.net.relearnNeighbours(l.a, l.b)
}

// IsUp reports whether nettest last set the link up (it starts up).
func (l *Link) IsUp() bool {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	return l.a.up.Load() && l.b.up.Load()
}
