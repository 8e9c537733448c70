package nettest

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteEntry is a route as a node's kernel holds it in its routing table:
// the entry that [Node.RouteMatch] found, with every next hop of a
// multipath route.
type RouteEntry struct {
	// Dst is the route's destination prefix: 0.0.0.0/0 or ::/0 for a
	// default route.
	Dst netip.Prefix
	// Type is "unicast" for an ordinary route, else the kernel's route
	// type: "local" (one of the node's own addresses), "broadcast", ...
	Type string
	// Metric is the route's priority (lower wins).
	Metric int
	// Protocol says who installed the route (ip route's "proto"): "kernel"
	// for a connected subnet, "boot" for nettest's own routes, "ospf",
	// "bgp", "zebra", "bird", ... for a routing daemon's (see
	// [RouteProtocol]).
	Protocol string
	// Src is the route's preferred source address, if it has one.
	Src netip.Addr
	// NextHops are the route's next hops: one for a single-path route,
	// several for a multipath (ECMP) route, ordered by interface name
	// and gateway. Dev is always set; Via is the
	// gateway, the zero Addr for a connected subnet; Weight is 1 to 256.
	NextHops []NextHop
}

// String formats the entry as ip-route(8) prints it:
// "198.18.4.0/24 via 198.18.0.2 dev eth0 metric 20", or with
// "nexthop via ... dev ... weight 1" per path of a multipath route.
func (r RouteEntry) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	switch {
	case r.Dst.Bits() == 0:
		b.WriteString("default")
	case r.Dst.IsSingleIP():
		b.WriteString(r.Dst.Addr().String())
	default:
		b.WriteString(r.Dst.String())
	}
	hop := func(h NextHop) {
		if h.Via.IsValid() {
			b.WriteString(" via " + h.Via.String())
		}
		if h.Dev != "" {
			b.WriteString(" dev " + h.Dev)
		}
	}
	if len(r.NextHops) == 1 {
		hop(r.NextHops[0])
	}
	if r.Protocol != "" && r.Protocol != "boot" && r.Protocol != "kernel" {
		b.WriteString(" proto " + r.Protocol)
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.Itoa(r.Metric))
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if len(r.NextHops) > 1 {
		for _, h := range r.NextHops {
			b.WriteString(" nexthop")
			hop(h)
			b.WriteString(" weight " + strconv.Itoa(h.Weight))
		}
	}
	return b.String()
}

// RouteMatch returns the route of the node's routing table that the kernel
// matches for dst (ip route get fibmatch): the whole entry, with every next
// hop of a multipath route, where [Node.RouteGet] gives the one path a
// lookup picks. When the node has no usable route (none, or an
// unreachable, prohibit or blackhole one) the error wraps [ErrNoRoute].
func (n *Node) RouteMatch(dst netip.Addr) (RouteEntry, error) {
	dst = dst.Unmap()
	var routes []netlink.Route
	var names map[int]string
	err := n.net.use("node "+n.p.name, func() (err error) {
		routes, err = n.ns.nl.RouteGetWithOptions(dst.AsSlice(), &netlink.RouteGetOptions{FIBMatch: true})
		if err != nil || len(routes) == 0 {
			return err
		}
		names = map[int]string{}
		for _, idx := range routeLinks(routes[0]) {
			names[idx] = n.ifaceName(idx)
		}
		return nil
	})
	switch {
	case err != nil && isNoRoute(err):
		return RouteEntry{}, fmt.Errorf("nettest: node %s: route to %s: %w (%v)", n.p.name, dst, ErrNoRoute, err)
	case err != nil:
		return RouteEntry{}, fmt.Errorf("nettest: node %s: route to %s: %w", n.p.name, dst, err)
	case len(routes) == 0:
		return RouteEntry{}, fmt.Errorf("nettest: node %s: route to %s: %w (empty answer)", n.p.name, dst, ErrNoRoute)
	}
	return routeEntry(routes[0], dst, names), nil
}

// isNoRoute reports whether a route lookup failed for want of a usable route.
func isNoRoute(err error) bool {
	for _, e := range []unix.Errno{unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EACCES, unix.EINVAL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// routeLinks returns the interface indexes a route uses.
func routeLinks(r netlink.Route) []int {
	var out []int
	if r.LinkIndex != 0 {
		out = append(out, r.LinkIndex)
	}
	for _, h := range r.MultiPath {
		out = append(out, h.LinkIndex)
	}
	return out
}

// routeEntry converts netlink's answer; names maps interface indexes.
func routeEntry(r netlink.Route, dst netip.Addr, names map[int]string) RouteEntry {
	e := RouteEntry{Type: cmp.Or(routeTypes[r.Type], "type "+strconv.Itoa(r.Type)), Metric: r.Priority, Src: addrOf(r.Src), Protocol: RouteProtocol(int(r.Protocol))}
	bits := 0
	if r.Dst != nil {
		bits, _ = r.Dst.Mask.Size()
	}
	e.Dst, _ = dst.Prefix(bits) // the kernel's answer carries the lookup's address
	if len(r.MultiPath) == 0 {
		e.NextHops = []NextHop{{Via: addrOf(r.Gw), Dev: names[r.LinkIndex], Weight: 1}}
	}
	for _, h := range r.MultiPath {
		e.NextHops = append(e.NextHops, NextHop{Via: addrOf(h.Gw), Dev: names[h.LinkIndex], Weight: h.Hops + 1})
	}
	// The kernel lists an IPv6 route's siblings starting from the one the
	// lookup hashed to: sort them, so the same route always reads the same.
	slices.SortFunc(e.NextHops, func(a, b NextHop) int {
		return cmp.Or(cmp.Compare(a.Dev, b.Dev), a.Via.Compare(b.Via))
	})
	return e
}

// addrOf converts a netlink address; the zero Addr for none.
func addrOf(ip net.IP) netip.Addr {
	if a, ok := netip.AddrFromSlice(ip); ok && ip != nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

var routeTypes = map[int]string{
	unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_BLACKHOLE: "blackhole", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw",
}
