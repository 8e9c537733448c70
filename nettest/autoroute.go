package nettest

import "net/netip"

// edge is a one-hop neighbour relation: from's interface out reaches node to
// at gateway address gw.
type edge struct {
	to  *nodePlan
	out *ifacePlan
	gw  netip.Addr
}

// AutoRouteMetric is the metric of every automatic route (Auto.Routes), in
// both families: the kernel's default for IPv6 routes. A route you give for
// the same destination without a metric replaces the automatic one; with a
// metric above AutoRouteMetric it is a backup beside it, below it the
// preferred route with the automatic one as backup.
const AutoRouteMetric = 1024

// autoRoutes installs, on every node, a route to every subnet it is not on
// and to every other node's loopback addresses, along a shortest path that crosses only routers. Ties go to the neighbour
// that comes first in topology order, so the result is deterministic.
func (p *plan) autoRoutes() {
	for i, np := range p.nodes {
		np.pos = i
	}
	for np, routes := range p.shortestPaths(nil) {
		np.routes = append(np.routes, routes...)
	}
}

// shortestPaths computes every node's automatic routes over the interfaces
// usable says can carry traffic (nil: all of them), IPv4 first.
func (p *plan) shortestPaths(usable func(*ifacePlan) bool) map[*nodePlan][]*routePlan {
	out := make(map[*nodePlan][]*routePlan, len(p.nodes))
	for _, f := range families {
		adj := p.adjacency(f, usable)
		subs := make([][]netip.Prefix, len(p.segs))
		for i, seg := range p.segs {
			subs[i] = seg.subnetsOf(f)
		}
		for _, s := range p.nodes {
			if s.isSwitch {
				continue
			}
			out[s] = append(out[s], p.routesFrom(s, f, adj, subs)...)
		}
	}
	return out
}

// adjacency returns, for family f, the neighbours of every node: two nodes are
// neighbours when they have addresses in a common subnet on a common segment,
// through interfaces usable says can carry traffic (nil: all).
func (p *plan) adjacency(f Family, usable func(*ifacePlan) bool) map[*nodePlan][]edge {
	adj := map[*nodePlan][]edge{}
	for _, seg := range p.segs {
		for _, x := range seg.ends {
			if usable != nil && !usable(x) {
				continue
			}
			for _, y := range seg.ends {
				if x.node == y.node || usable != nil && !usable(y) {
					continue
				}
				if gw, ok := commonSubnetAddr(x, y, f); ok {
					adj[x.node] = append(adj[x.node], edge{to: y.node, out: x, gw: gw})
				}
			}
		}
	}
	return adj
}

// commonSubnetAddr returns y's first address of family f in a subnet x is on.
func commonSubnetAddr(x, y *ifacePlan, f Family) (netip.Addr, bool) {
	for _, b := range y.addrs {
		if FamilyOf(b.Addr()) != f {
			continue
		}
		for _, a := range x.addrs {
			if a.Masked() == b.Masked() {
				return b.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// visit records how a breadth-first search from one node reached another.
type visit struct {
	order int  // when it was reached; 0 for not at all (the source is 1)
	first edge // the first hop from the source on the path
}

// routesFrom returns s's automatic routes of family f: a breadth-first
// search over adj, then a route to every subnet s is not on and that no
// route of the user's without a metric already covers.
func (p *plan) routesFrom(s *nodePlan, f Family, adj map[*nodePlan][]edge, subs [][]netip.Prefix) []*routePlan {
	seen := make([]visit, len(p.nodes))
	seen[s.pos] = visit{order: 1}
	reached := 1
	queue := []*nodePlan{s}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if u != s && u.kind != Router {
			continue // hosts do not forward
		}
		for _, e := range adj[u] {
			if seen[e.to.pos].order != 0 {
				continue
			}
			first := e
			if u != s {
				first = seen[u.pos].first
			}
			reached++
			seen[e.to.pos] = visit{order: reached, first: first}
			queue = append(queue, e.to)
		}
	}
	have := make(map[netip.Prefix]bool, len(s.routes)+len(p.segs))
	for _, r := range s.routes {
		if !r.auto && r.table == 0 && (r.metric == 0 || r.metric == AutoRouteMetric) { // another metric: a backup, or preferred; both stay
			have[r.dst] = true
		}
	}
	var out []*routePlan
	for _, ip := range s.ifaces {
		for _, a := range ip.addrs {
			have[a.Masked()] = true
		}
	}
	add := func(dst netip.Prefix, via visit) {
		have[dst] = true
		r := Route{Dst: dst, Via: via.first.gw, Dev: via.first.out.name}
		r.Metric = AutoRouteMetric
		out = append(out, &routePlan{
			r: r, family: f, dst: dst, auto: true, metric: AutoRouteMetric,
			hops: []hopPlan{{via: via.first.gw, dev: via.first.out, weight: 1}},
		})
	}
	for i, seg := range p.segs {
		for _, sub := range subs[i] {
			if have[sub] {
				continue
			}
			// The subnet is reached through the nearest router on it. With
			// no router on it, only the addresses of the hosts on it are
			// reachable (a host answers on all its addresses but forwards
			// nothing): host routes to those, so that the rest of the
			// subnet has no route rather than a black hole.
			var best *visit
			var hosts []*ifacePlan
			for _, ip := range seg.ends {
				v := seen[ip.node.pos]
				if v.order == 0 || ip.node == s || !holds(ip, sub) {
					continue
				}
				if ip.node.kind != Router {
					hosts = append(hosts, ip)
					continue
				}
				if best == nil || v.order < best.order {
					best = &v
				}
			}
			if best != nil {
				add(sub, *best)
				continue
			}
			for _, ip := range hosts {
				for _, a := range ip.addrs {
					if dst := netip.PrefixFrom(a.Addr(), a.Addr().BitLen()); sub.Contains(a.Addr()) && !have[dst] {
						add(dst, seen[ip.node.pos])
					}
				}
			}
		}
	}
	// Every other node's loopback addresses, through the first hop
	// towards that node (a host's too: it answers on them).
	for _, x := range p.nodes {
		if x == s || seen[x.pos].order == 0 {
			continue
		}
		for _, a := range x.loopback {
			if dst := netip.PrefixFrom(a, a.BitLen()); FamilyOf(a) == f && !have[dst] {
				add(dst, seen[x.pos])
			}
		}
	}
	return out
}

// holds reports whether the interface has an address in the subnet.
func holds(ip *ifacePlan, sub netip.Prefix) bool {
	for _, a := range ip.addrs {
		if a.Masked() == sub {
			return true
		}
	}
	return false
}
