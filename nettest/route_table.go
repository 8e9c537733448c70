package nettest

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeProtocols names the kernel's route protocols (rtm_protocol): who
// installed a route. FRR's daemons install theirs as "ospf", "bgp", ...
// (zebra itself, for the routes it owns, as "zebra"); BIRD as "bird";
// the kernel its connected subnets as "kernel"; nettest's automatic and
// static routes, and ip route without "proto", are "boot".
var routeProtocols = map[int]string{
	unix.RTPROT_REDIRECT: "redirect", unix.RTPROT_KERNEL: "kernel", unix.RTPROT_BOOT: "boot",
	unix.RTPROT_STATIC: "static", unix.RTPROT_GATED: "gated", unix.RTPROT_RA: "ra",
	unix.RTPROT_MRT: "mrt", unix.RTPROT_ZEBRA: "zebra", unix.RTPROT_BIRD: "bird",
	unix.RTPROT_DNROUTED: "dnrouted", unix.RTPROT_XORP: "xorp", unix.RTPROT_NTK: "ntk",
	unix.RTPROT_DHCP: "dhcp", unix.RTPROT_MROUTED: "mrouted", unix.RTPROT_KEEPALIVED: "keepalived",
	unix.RTPROT_BABEL: "babel", unix.RTPROT_OPENR: "openr", unix.RTPROT_BGP: "bgp",
	unix.RTPROT_ISIS: "isis", unix.RTPROT_OSPF: "ospf", unix.RTPROT_RIP: "rip",
	unix.RTPROT_EIGRP: "eigrp",
	// FRR's own numbers (its rt_netlink.h), as /etc/iproute2/rt_protos.d/frr.conf names them.
	193: "sharp", 194: "pbr", 195: "openfabric", 196: "srte",
}

// RouteProtocol names a route protocol number as ip-route(8) does: "ospf"
// for 188, "bird" for 12; a number it has no name for is returned as
// digits.
func RouteProtocol(proto int) string {
	if s, ok := routeProtocols[proto]; ok {
		return s
	}
	return strconv.Itoa(proto)
}

// RouteTable returns the routes of the node's main routing table, IPv4
// then IPv6, as ip route show and ip -6 route show list them (without the
// local and broadcast routes the kernel keeps in its local table), each
// with its Protocol: who installed it — "kernel" for a connected subnet,
// "boot" for nettest's routes, "ospf", "bgp", "zebra" or "bird" for a
// routing daemon's. IPv6 link-local (fe80::/64) and multicast routes are
// left out. It is what Converged compares and RouteProto reads.
func (n *Node) RouteTable() ([]RouteEntry, error) {
	var out []RouteEntry
	err := n.net.use("node "+n.p.name, func() error {
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			routes, err := n.ns.nl.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return err
			}
			var part []RouteEntry
			for _, r := range routes {
				if r.Type == unix.RTN_MULTICAST {
					continue
				}
				dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
				if fam == unix.AF_INET6 {
					dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
				}
				if r.Dst != nil {
					a, _ := netip.AddrFromSlice(r.Dst.IP)
					bits, _ := r.Dst.Mask.Size()
					dst = netip.PrefixFrom(a.Unmap(), bits)
				}
				if dst.Addr().Is6() && dst.Addr().IsLinkLocalUnicast() {
					continue
				}
				names := map[int]string{}
				for _, idx := range routeLinks(r) {
					names[idx] = n.ifaceName(idx)
				}
				e := routeEntry(r, dst.Addr(), names)
				e.Dst = dst
				part = append(part, e)
			}
			slices.SortStableFunc(part, func(a, b RouteEntry) int {
				return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), cmp.Compare(a.Dst.Bits(), b.Dst.Bits()), cmp.Compare(a.Metric, b.Metric))
			})
			out = append(out, part...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nettest: node %s: listing its routes: %w", n.p.name, err)
	}
	return out, nil
}
