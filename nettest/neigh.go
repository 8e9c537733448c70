package nettest

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/ready"
)

// Neighbour entries nettest installs.
//
// The kernel's neighbour tables (ARP and IPv6 neighbour discovery) are one
// table per family for the whole machine, shared by every network
// namespace, and their size limit (net.ipv4.neigh.default.gc_thresh3 and
// net.ipv6.neigh.default.gc_thresh3, 1024 entries by default) exists only
// in the host's namespace. When the table holds that many entries and none
// can be reclaimed (entries in use, or younger than five seconds), making a
// new one fails ("neighbor table overflow!" in the kernel log,
// table_fulls in /proc/net/stat/ndisc_cache): the packet that needed it is
// dropped (Ip6OutNoRoutes) and no solicitation is sent at all. Many
// topologies built at once (parallel tests, other users' labs) fill it,
// IPv6 first: every interface's MLD reports, router and neighbour
// solicitations make entries too. A first ping then waited a second for
// the retry, or was lost.
//
// nettest cannot raise the host's limit (it changes nothing outside its
// namespaces), and need not resolve what it already knows: it made both
// ends of every link, with their MAC and addresses. So, once the
// interfaces are ready, every node learns its neighbours on each segment
// (the addresses of other nodes' interfaces that lie in one of its
// subnets) as "externally learned" entries, which the kernel (since 4.20)
// never counts against that limit nor garbage-collects. They are reachable at first and
// otherwise behave as learned ones: they go stale, are probed with unicast
// solicitations and updated by the neighbours' advertisements, so a MAC
// changed later is learnt again.

// neighbours returns the entries nettest installs on the interface: one per
// address of another node's interface on the same segment that lies in a
// subnet of this one, of the family the subnet has.
func (in *Interface) neighbours() []netlink.Neigh {
	seg := in.p.seg
	if seg == nil || len(in.p.addrs) == 0 {
		return nil
	}
	var out []netlink.Neigh
	for _, peer := range seg.ends {
		if peer.node == in.p.node || len(peer.mac) == 0 {
			continue
		}
		for _, b := range peer.addrs {
			if !onLink(in.p.addrs, b.Addr()) {
				continue
			}
			ne := netlink.Neigh{
				LinkIndex:    in.index(),
				Family:       unix.AF_INET,
				State:        netlink.NUD_REACHABLE,
				Flags:        netlink.NTF_EXT_LEARNED,
				IP:           b.Addr().AsSlice(),
				HardwareAddr: peer.mac,
			}
			if b.Addr().Is6() {
				ne.Family = unix.AF_INET6
				if peer.node.kind == Router {
					ne.Flags |= netlink.NTF_ROUTER // as its advertisements say
				}
			}
			out = append(out, ne)
		}
	}
	return out
}

// forwarding returns the entry a LAN's switch port gets in its bridge's
// forwarding database: the MAC of the member at its other end, as the
// bridge would learn it from the member's first frame. Until it has, the
// bridge floods frames for that MAC to every port: on a LAN of 1,000 hosts,
// a first ping to each becomes a million copies, and the CPUs' input
// backlogs drop them. Nil for any other interface.
func (in *Interface) forwarding() *netlink.Neigh {
	peer := in.Peer()
	if in.p.master == nil || peer == nil || len(peer.p.mac) == 0 {
		return nil
	}
	return &netlink.Neigh{
		LinkIndex:    in.index(),
		Family:       unix.AF_BRIDGE,
		State:        netlink.NUD_REACHABLE,
		Flags:        netlink.NTF_MASTER | netlink.NTF_EXT_LEARNED, // not aged out; taken over if the MAC moves
		HardwareAddr: peer.p.mac,
	}
}

// onLink reports whether a lies in one of the subnets of prefixes.
func onLink(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Addr().Is6() == a.Is6() && p.Masked().Contains(a) && p.Addr() != a {
			return true
		}
	}
	return false
}

// learnNeighbours installs the neighbour entries of the interfaces given
// and of the other ends of their links, where both ends are up (an end
// without carrier loses its entries). It runs once the interfaces are
// ready: a carrier change before then could drop the entries again.
func learnNeighbours(ifaces []*Interface) error {
	seen := map[*Interface]bool{}
	var nodes []*Node
	byNode := map[*Node][]*Interface{}
	for _, in := range ifaces {
		for _, x := range []*Interface{in, in.Peer()} {
			if x == nil || seen[x] {
				continue
			}
			seen[x] = true
			if p := x.Peer(); !x.up.Load() || p != nil && !p.up.Load() {
				continue
			}
			if byNode[x.node] == nil {
				nodes = append(nodes, x.node)
			}
			byNode[x.node] = append(byNode[x.node], x)
		}
	}
	for _, node := range nodes {
		if err := node.learnNeighbours(byNode[node]); err != nil {
			return err
		}
	}
	return nil
}

// relearnNeighbours is learnNeighbours for a link or interface brought back
// up, with the network's lock held so that the ends' states stay as read.
func (n *Network) relearnNeighbours(ifaces ...*Interface) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return learnNeighbours(ifaces)
}

// learnNeighbours installs the neighbour entries of the node's interfaces
// given.
func (n *Node) learnNeighbours(ifaces []*Interface) error {
	var neighs []netlink.Neigh
	var of []*Interface // the interface of each entry
	for _, in := range ifaces {
		for _, ne := range in.neighbours() {
			neighs = append(neighs, ne)
			of = append(of, in)
		}
		if fdb := in.forwarding(); fdb != nil {
			neighs = append(neighs, *fdb)
			of = append(of, in)
		}
	}
	if len(neighs) == 0 {
		return nil // a node without addresses
	}
	for i, ne := range neighs {
		in := of[i]
		if ne.Family == unix.AF_BRIDGE || !in.p.seg.isLAN || (i > 0 && of[i-1] == in && neighs[i-1].Family == ne.Family) {
			continue // once per LAN interface and family, before its entries
		}
		if err := n.ns.setReachableTime(ne.Family, in.index(), lanReachableTime); err != nil {
			if ne.Family == unix.AF_INET6 && !in.hasIPv6() {
				continue // the user turned IPv6 off here
			}
			return fmt.Errorf("%s: interface %s: neighbour reachable time: %w", n.where(), in.p.name, err)
		}
	}
	errs, err := n.ns.neighSet(neighs)
	if err != nil {
		return fmt.Errorf("%s: installing neighbour entries: %w", n.where(), err)
	}
	ipv6Off := map[*Interface]bool{} // asked of the kernel when an IPv6 entry is refused
	for i, err := range errs {
		if err == nil {
			continue
		}
		in, ne := of[i], neighs[i]
		if ne.Family == unix.AF_INET6 {
			off, asked := ipv6Off[in]
			if !asked {
				off = !in.hasIPv6()
				ipv6Off[in] = off
			}
			if off {
				continue // the user turned IPv6 off here: nothing to resolve
			}
		}
		if ne.Family == unix.AF_BRIDGE {
			return fmt.Errorf("%s: interface %s: forwarding entry for %s: %w", n.where(), in.p.name, ne.HardwareAddr, err)
		}
		return fmt.Errorf("%s: interface %s: neighbour %s lladdr %s: %w", n.where(), in.p.name, ne.IP, ne.HardwareAddr, err)
	}
	return nil
}

// hasIPv6 reports whether IPv6 is on for the interface (the kernel has it,
// and disable_ipv6 is not set).
func (in *Interface) hasIPv6() bool {
	var states map[string]ready.LinkState
	err := in.node.ns.with(func(c *nsConn) (err error) {
		states, err = ready.LinkStates(c.raw)
		return err
	})
	if err != nil {
		return true // the error of the request itself says more
	}
	st, ok := states[in.p.name]
	return ok && st.HasInet6
}

// lanMemberIPv4OnlySysctls are written in the namespace of a LAN member of
// a topology without IPv6, with its others: the interfaces made there get
// no IPv6 link-local address (addr_gen_mode none, as a switch's), so they
// send no duplicate address detection, router solicitations or multicast
// listener reports, multicast frames that the switch copies to every port.
// On a LAN of 1,000 hosts that was millions of frames during
// assertions.Reachable, which overflowed the CPUs' input backlogs (1000
// packets each) and lost pings. IPv6 stays on: addresses added later work.
var lanMemberIPv4OnlySysctls = [][2]string{
	{"/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1"},
}

// onLAN reports whether the node has an interface on a LAN.
func (np *nodePlan) onLAN() bool {
	for _, ip := range np.ifaces {
		if ip.seg != nil && ip.seg.isLAN {
			return true
		}
	}
	return false
}

// lanReachableTime is the base reachable time of a LAN member's neighbour
// entries: an entry is confirmed reachable for a random 0.5 to 1.5 times it
// (the kernel's default is 30s). Past that, the kernel probes each entry it
// uses with a unicast request before trusting it again. On a LAN of
// hundreds of hosts pinging each other (assertions.Reachable: 999,000 pings
// on 1,000 hosts, a minute or more), every entry went stale within the
// check and was probed, hundreds of thousands of requests in bursts; those
// the host's CPUs dropped (their input backlogs hold 1000 packets each)
// failed their entries, whose next use broadcast a request the switch
// copied to every port, so more were dropped, and pings with them. The
// entries are nettest's own (it made both ends), and a neighbour that
// changes its MAC is still learnt again once its entry is probed.
const lanReachableTime = 20 * time.Minute

// setReachableTime sets the base reachable time of the neighbour entries of
// one interface and family (net.ipv4.neigh.IFACE.base_reachable_time_ms,
// and ipv6's), the one sysctl of the neighbour tables that each namespace
// has for its own interfaces; the tables' sizes and garbage collection are
// the host's. It asks the kernel over netlink (RTM_SETNEIGHTBL), as
// "ip ntable change" does, without entering the namespace.
func (ns *namespace) setReachableTime(family, index int, d time.Duration) error {
	const (
		ndtaName               = 1 // NDTA_NAME
		ndtaParms              = 6 // NDTA_PARMS
		ndtpaIfindex           = 1 // NDTPA_IFINDEX
		ndtpaBaseReachableTime = 4 // NDTPA_BASE_REACHABLE_TIME, in ms
	)
	table := "arp_cache"
	if family == unix.AF_INET6 {
		table = "ndisc_cache"
	}
	return ns.with(func(c *nsConn) error {
		req := nl.NewNetlinkRequest(unix.RTM_SETNEIGHTBL, unix.NLM_F_ACK)
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.raw} // the namespace's socket
		req.AddData(ndtmsg(family))
		req.AddData(nl.NewRtAttr(ndtaName, nl.ZeroTerminated(table)))
		parms := nl.NewRtAttr(ndtaParms|unix.NLA_F_NESTED, nil)
		parms.AddRtAttr(ndtpaIfindex, nl.Uint32Attr(uint32(index)))
		parms.AddRtAttr(ndtpaBaseReachableTime, nl.Uint64Attr(uint64(d.Milliseconds())))
		req.AddData(parms)
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// ndtmsg is the header of a neighbour table message: its family.
type ndtmsg uint8

func (m ndtmsg) Len() int          { return 4 }
func (m ndtmsg) Serialize() []byte { return []byte{byte(m), 0, 0, 0} }

// neighBatch is how many entries neighSet sends to the kernel at once; their
// acknowledgements fit in the socket's receive buffer many times over.
const neighBatch = 128

// neighSet installs neighbour entries, replacing those with the same
// address ("ip neigh replace"), many in each message to the kernel: a node
// on a large LAN has a neighbour entry per member and family, and one round
// trip per entry would make that LAN slow to build. It returns each entry's
// error (nil where it was installed); the error is about the socket.
func (ns *namespace) neighSet(neighs []netlink.Neigh) (errs []error, err error) {
	err = ns.with(func(c *nsConn) (err error) {
		errs, err = neighSet(c.raw, neighs)
		return err
	})
	return errs, err
}

func neighSet(raw *nl.SocketHandle, neighs []netlink.Neigh) ([]error, error) {
	errs := make([]error, len(neighs))
	sock := raw.Socket
	sock.Lock()
	defer sock.Unlock()
	pid, err := sock.GetPid()
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(neighs); start += neighBatch {
		end := min(start+neighBatch, len(neighs))
		pending := make(map[uint32]int, end-start) // sequence number -> entry
		var buf []byte
		for i := start; i < end; i++ {
			ne := &neighs[i]
			req := nl.NewNetlinkRequest(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
			req.Seq = atomic.AddUint32(&raw.Seq, 1)
			req.AddData(&netlink.Ndmsg{Family: uint8(ne.Family), Index: uint32(ne.LinkIndex), State: uint16(ne.State), Flags: uint8(ne.Flags)})
			if ne.Family != unix.AF_BRIDGE {
				dst := ne.IP.To4()
				if ne.Family == unix.AF_INET6 {
					dst = ne.IP.To16()
				}
				req.AddData(nl.NewRtAttr(unix.NDA_DST, dst))
			}
			req.AddData(nl.NewRtAttr(unix.NDA_LLADDR, ne.HardwareAddr))
			pending[req.Seq] = i
			buf = append(buf, req.Serialize()...)
		}
		// A message to the kernel is handled at once, within the call.
		if err := unix.Sendto(sock.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sending: %w", err)
		}
		for len(pending) > 0 {
			msgs, _, err := sock.Receive()
			if err != nil {
				return nil, fmt.Errorf("reading the acknowledgements: %w", err)
			}
			for _, m := range msgs {
				i, ok := pending[m.Header.Seq]
				if !ok || m.Header.Pid != pid || m.Header.Type != unix.NLMSG_ERROR {
					continue // an answer to an earlier request
				}
				delete(pending, m.Header.Seq)
				if len(m.Data) >= 4 {
					if e := int32(nl.NativeEndian().Uint32(m.Data[:4])); e != 0 {
						errs[i] = syscall.Errno(-e)
					}
				}
			}
		}
	}
	return errs, nil
}
