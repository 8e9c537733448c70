package assertions

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// RouteVia checks that the route node's kernel matches for dst has gateway
// among its next hops: any of them, for a multipath (ECMP) route. dst is a
// node, "node:iface", an address or a prefix ("198.18.4.0/24", looked up by
// its first address); gateway is an address, "node:iface" (any address of
// that interface, link-local ones included) or a node (any of its
// addresses). The check covers each family dst has, or the family of a
// literal dst or gateway, or those chosen with [IPv4] and [IPv6]. Options:
// [IPv4], [IPv6], [Within], [Every].
//
//	route to 198.18.4.0/24 on r1: still via 198.18.0.2 after 5s, want via 198.18.1.2 (r1's route: 198.18.4.0/24 via 198.18.0.2 dev eth0)
func RouteVia(t TestingT, n *nettest.Network, node, dst, gateway string, opts ...RouteOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "RouteVia", n, options(opts, RouteOption.routeOption), routeCheck(n, node, dst, "gateway", gateway, func(l routeLeg, gw target) (finding, error) {
		gws, err := gatewayAddrs(gw, l.family)
		if err != nil {
			return finding{}, err
		}
		want := "via " + gw.label(joinAddrs(configured(gw, l.family, gws), " or "))
		return lookup(l, want, l.node.RouteMatch, func(e nettest.RouteEntry) (bool, string) {
			var vias []string
			ok := false
			for _, h := range e.NextHops {
				if !h.Via.IsValid() {
					vias = append(vias, "no gateway (dev "+h.Dev+")")
					continue
				}
				vias = append(vias, h.Via.String())
				ok = ok || slices.Contains(gws, h.Via.WithZone(""))
			}
			return ok, "via " + strings.Join(vias, " and ")
		})
	}))
}

// RouteDev checks that the route node's kernel matches for dst goes out of
// the interface dev: any of its next hops, for a multipath route. dst and
// the options are those of [RouteVia].
//
//	route to h2 (198.18.0.14) on r1: dev eth0, want dev eth1 (r1's route: 198.18.0.12/30 via 198.18.0.2 dev eth0)
func RouteDev(t TestingT, n *nettest.Network, node, dst, dev string, opts ...RouteOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "RouteDev", n, options(opts, RouteOption.routeOption), routeCheck(n, node, dst, "", "", func(l routeLeg, _ target) (finding, error) {
		return lookup(l, "dev "+dev, l.node.RouteMatch, func(e nettest.RouteEntry) (bool, string) {
			var devs []string
			for _, h := range e.NextHops {
				devs = append(devs, h.Dev)
			}
			return slices.Contains(devs, dev), "dev " + strings.Join(devs, " and ")
		})
	}))
}

// RouteSrc checks that node's kernel, routing to dst, picks src as the
// source address (the src of ip route get). src is an address, a node or
// "node:iface" (any of its addresses of the family). dst and the options
// are those of [RouteVia].
//
//	route to h2 (198.18.0.14) on r1: src 198.18.0.5, want src r1:eth1 (198.18.0.9) (r1's route: 198.18.0.14 via 198.18.0.6 dev eth0 src 198.18.0.5)
func RouteSrc(t TestingT, n *nettest.Network, node, dst, src string, opts ...RouteOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "RouteSrc", n, options(opts, RouteOption.routeOption), routeCheck(n, node, dst, "source", src, func(l routeLeg, s target) (finding, error) {
		srcs := configured(s, l.family, nil)
		if len(srcs) == 0 {
			return finding{}, fmt.Errorf("%s: source %s has no %s address", l.subject, src, l.family)
		}
		want := "src " + s.label(joinAddrs(srcs, " or "))
		return lookup(l, want, l.node.RouteGet, func(r nettest.RouteInfo) (bool, string) {
			if !r.Src.IsValid() {
				return false, "no source address"
			}
			return slices.Contains(srcs, r.Src), "src " + r.Src.String()
		})
	}))
}

// NoRoute checks that node's kernel has no usable route to dst: none, or an
// unreachable, prohibit or blackhole route. dst and the options are those
// of [RouteVia].
//
//	route to 192.0.2.1 on h1: a route, want no route (h1's route: default via 198.18.0.2 dev eth0)
func NoRoute(t TestingT, n *nettest.Network, node, dst string, opts ...RouteOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "NoRoute", n, options(opts, RouteOption.routeOption), routeCheck(n, node, dst, "", "", func(l routeLeg, _ target) (finding, error) {
		return lookup(l, noRoute, l.node.RouteMatch, func(nettest.RouteEntry) (bool, string) { return false, "a route" })
	}))
}

// routeLeg is one lookup of a route check: one node, one destination address.
type routeLeg struct {
	node    *nettest.Node
	family  nettest.Family
	dst     netip.Addr
	subject string
}

// routeCheck prepares a route check: it resolves node, dst and, when ref
// is not empty, the gateway or source it names (what), which judge gets;
// one leg per family. A literal address as ref fixes the family.
func routeCheck(n *nettest.Network, node, dst, what, ref string, judge func(routeLeg, target) (finding, error)) func(config) (try, error) {
	return func(c config) (try, error) {
		fail := func(err error) (try, error) { return nil, fmt.Errorf("route to %s on %s: %w", dst, node, err) }
		nd, err := resolveNode(n, node)
		if err != nil {
			return fail(err)
		}
		d, err := resolve(n, dst, true)
		if err != nil {
			return fail(err)
		}
		var pin target
		if ref != "" {
			if pin, err = resolve(n, ref, false); err != nil {
				return fail(fmt.Errorf("%s %s: %w", what, ref, err))
			}
		}
		if pin.Node == nil && pin.Addr.IsValid() {
			f := nettest.FamilyOf(pin.Addr)
			if len(c.families) > 0 && !slices.Contains(c.families, f) {
				return fail(fmt.Errorf("%s is an %s address, but the check asks for %s", pin.Ref, f, familyList(c.families)))
			}
			c.families = []nettest.Family{f}
		}
		fams, err := familiesFor(c, d)
		if err != nil {
			return fail(err)
		}
		var legs []routeLeg
		for _, f := range fams {
			a, err := d.addrOf(f)
			if err != nil {
				return fail(err)
			}
			label := a.String()
			if d.Prefix.IsValid() {
				label = d.Prefix.String()
			}
			legs = append(legs, routeLeg{node: nd, family: f, dst: a, subject: fmt.Sprintf("route to %s on %s", d.label(label), node)})
		}
		return func() ([]finding, error) {
			var fs []finding
			for _, l := range legs {
				f, err := judge(l, pin)
				if err != nil {
					return nil, err
				}
				fs = append(fs, f)
			}
			return fs, nil
		}, nil
	}
}

const noRoute = "no route"

// lookup asks the node's kernel (get: RouteMatch or RouteGet) for the
// leg's destination and judges the answer: judge says whether it is as
// wanted and what it is. No route is as wanted only by NoRoute.
func lookup[R fmt.Stringer](l routeLeg, want string, get func(netip.Addr) (R, error), judge func(R) (bool, string)) (finding, error) {
	f := finding{subject: l.subject, want: want}
	r, err := get(l.dst)
	switch {
	case errors.Is(err, nettest.ErrNoRoute):
		f.ok, f.seen = want == noRoute, noRoute
		return f, nil
	case err != nil:
		return finding{}, err
	}
	f.ok, f.seen = judge(r)
	f.note = fmt.Sprintf(" (%s's route: %s)", l.node, r)
	return f, nil
}

// gatewayAddrs returns the addresses of family f a gateway may be known
// by: a literal, or every address the kernel holds on the node (or
// interface), link-local ones included, as routing daemons use them. They
// are read from inside the node (Do guards against a closed network).
func gatewayAddrs(gw target, f nettest.Family) ([]netip.Addr, error) {
	if gw.Node == nil {
		return []netip.Addr{gw.Addr.WithZone("")}, nil
	}
	var out []netip.Addr
	err := gw.Node.Do(func() error {
		var addrs []net.Addr
		var err error
		if gw.Interface == nil {
			addrs, err = net.InterfaceAddrs()
		} else if in, ierr := net.InterfaceByIndex(gw.Interface.Index()); ierr != nil {
			err = ierr
		} else {
			addrs, err = in.Addrs()
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(p.IP); ok && nettest.FamilyOf(ip) == f && !ip.Unmap().IsLoopback() {
					out = append(out, ip.Unmap())
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gateway %s: listing its addresses: %w", gw.Ref, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gateway %s has no %s address", gw.Ref, f)
	}
	return out, nil
}

// configured returns the target's addresses of family f (from the
// topology, for a node: no link-local ones); all when it has none.
func configured(t target, f nettest.Family, all []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range t.addrs() {
		if nettest.FamilyOf(a) == f {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

func joinAddrs(as []netip.Addr, sep string) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, sep)
}

// RouteProto checks that the route node's kernel matches for dst was
// installed by protocol proto, as ip route's "proto" names it: "ospf",
// "bgp", "zebra", "bird", "static", "kernel" (a connected subnet) or
// "boot" (nettest's own routes); see [nettest.RouteProtocol]. dst and the
// options are those of [RouteVia]; give [Within] to wait for a daemon to
// learn the route.
//
//	route to h3 (198.18.0.14) on r1: proto boot, want proto ospf (r1's route: 198.18.0.12/30 via 198.18.0.2 dev eth0)
func RouteProto(t TestingT, n *nettest.Network, node, dst, proto string, opts ...RouteOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "RouteProto", n, options(opts, RouteOption.routeOption), routeCheck(n, node, dst, "", "", func(l routeLeg, _ target) (finding, error) {
		return lookup(l, "proto "+proto, l.node.RouteMatch, func(e nettest.RouteEntry) (bool, string) {
			return e.Protocol == proto, "proto " + e.Protocol
		})
	}))
}
