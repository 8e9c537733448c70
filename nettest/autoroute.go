package nettest

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
)

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
	for i, routes := range p.shortestPaths(nil) {
		p.nodes[i].routes = append(p.nodes[i].routes, routes...)
	}
}

// shortestPaths computes every node's automatic routes over the interfaces
// usable says can carry traffic (nil: all of them), IPv4 first, indexed by
// node position; nodes in parallel.
func (p *plan) shortestPaths(usable func(*ifacePlan) bool) [][]*routePlan {
	out := make([][]*routePlan, len(p.nodes))
	graphs := p.routeGraphs(usable)
	p.eachNode(func(s *nodePlan, w *routeWalk) {
		for i := range graphs {
			p.walkRoutes(s, &graphs[i], w, func(dst netip.Prefix, via edge) {
				out[s.pos] = append(out[s.pos], newAutoRoute(graphs[i].f, dst, via))
			})
		}
	})
	return out
}

// eachNode calls fn for every node but switches, on as many goroutines as
// there are CPUs, each with a routeWalk of its own.
func (p *plan) eachNode(fn func(*nodePlan, *routeWalk)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(p.nodes)) {
		wg.Go(func() {
			w := &routeWalk{seen: make([]visit, len(p.nodes))}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(p.nodes) {
					return
				}
				if s := p.nodes[i]; !s.isSwitch {
					fn(s, w)
				}
			}
		})
	}
	wg.Wait()
}

// newAutoRoute returns the automatic route of family f to dst via the
// first hop of a shortest path.
// The route and its one hop are one allocation: a large topology has a
// million automatic routes.
func newAutoRoute(f Family, dst netip.Prefix, via edge) *routePlan {
	x := &struct {
		rp  routePlan
		hop [1]hopPlan
	}{
		rp: routePlan{
			r:      Route{Dst: dst, Via: via.gw, Dev: via.out.name, Metric: AutoRouteMetric},
			family: f, dst: dst, auto: true, metric: AutoRouteMetric,
		},
		hop: [1]hopPlan{{via: via.gw, dev: via.out, weight: 1}},
	}
	x.rp.hops = x.hop[:]
	return &x.rp
}

// routeGraph is what the automatic routes of one family are computed from:
// every node's neighbours (by node position) and every segment's subnets.
type routeGraph struct {
	f    Family
	adj  [][]edge
	subs [][]netip.Prefix
}

// routeGraphs returns the routeGraph of each family, IPv4 first, over the
// interfaces usable says can carry traffic (nil: all).
func (p *plan) routeGraphs(usable func(*ifacePlan) bool) []routeGraph {
	var out []routeGraph
	for _, f := range families {
		g := routeGraph{f: f, adj: p.adjacency(f, usable), subs: make([][]netip.Prefix, len(p.segs))}
		for i, seg := range p.segs {
			g.subs[i] = seg.subnetsOf(f)
		}
		out = append(out, g)
	}
	return out
}

// adjacency returns, for family f, the neighbours of every node (by
// position): two nodes are neighbours when they have addresses in a common
// subnet on a common segment, through interfaces usable says can carry
// traffic (nil: all).
func (p *plan) adjacency(f Family, usable func(*ifacePlan) bool) [][]edge {
	adj := make([][]edge, len(p.nodes))
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
					adj[x.node.pos] = append(adj[x.node.pos], edge{to: y.node, out: x, gw: gw})
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

// routeWalk is the working memory of walkRoutes, reused from one node to
// the next.
type routeWalk struct {
	seen  []visit // by node position
	queue []*nodePlan
	hosts []*ifacePlan
	have  map[routeKey]bool
}

// walkRoutes calls emit with s's automatic routes of g's family, in order:
// a breadth-first search over g, then a route to every subnet s is not on
// and that no route of the user's without a metric already covers, with
// the first hop of a shortest path to it.
func (p *plan) walkRoutes(s *nodePlan, g *routeGraph, w *routeWalk, emit func(dst netip.Prefix, via edge)) {
	seen := w.seen
	clear(seen)
	seen[s.pos] = visit{order: 1}
	reached := 1
	queue := append(w.queue[:0], s)
	for head := 0; head < len(queue); head++ {
		u := queue[head]
		if u != s && u.kind != Router {
			continue // hosts do not forward
		}
		for _, e := range g.adj[u.pos] {
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
	w.queue = queue[:0]
	if w.have == nil {
		w.have = map[routeKey]bool{}
	}
	have := w.have
	clear(have)
	for _, r := range s.routes {
		if !r.auto && r.table == 0 && (r.metric == 0 || r.metric == AutoRouteMetric) { // another metric: a backup, or preferred; both stay
			have[keyOf(r.dst)] = true
		}
	}
	for _, ip := range s.ifaces {
		for _, a := range ip.addrs {
			have[keyOf(a.Masked())] = true
		}
	}
	add := func(dst netip.Prefix, via *visit) {
		have[keyOf(dst)] = true
		emit(dst, via.first)
	}
	for i, seg := range p.segs {
		for _, sub := range g.subs[i] {
			if have[keyOf(sub)] {
				continue
			}
			// The subnet is reached through the nearest router on it. With
			// no router on it, only the addresses of the hosts on it are
			// reachable (a host answers on all its addresses but forwards
			// nothing): host routes to those, so that the rest of the
			// subnet has no route rather than a black hole.
			var best *visit
			hosts := w.hosts[:0]
			for _, ip := range seg.ends {
				v := &seen[ip.node.pos]
				if v.order == 0 || ip.node == s || !holds(ip, sub) {
					continue
				}
				if ip.node.kind != Router {
					hosts = append(hosts, ip)
					continue
				}
				if best == nil || v.order < best.order {
					best = v
				}
			}
			w.hosts = hosts[:0]
			if best != nil {
				add(sub, best)
				continue
			}
			for _, ip := range hosts {
				for _, a := range ip.addrs {
					if dst := netip.PrefixFrom(a.Addr(), a.Addr().BitLen()); sub.Contains(a.Addr()) && !have[keyOf(dst)] {
						add(dst, &seen[ip.node.pos])
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
			if dst := netip.PrefixFrom(a, a.BitLen()); FamilyOf(a) == g.f && !have[keyOf(dst)] {
				add(dst, &seen[x.pos])
			}
		}
	}
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
