package nettest

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"

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
