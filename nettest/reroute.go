package nettest

import (
	"errors"
	"net/netip"
)

// routeKey identifies an automatic route on a node: one per destination.
// It is plain memory, which a map hashes faster than a netip.Prefix: a
// reroute looks up every route of every node.
type routeKey struct {
	addr [16]byte
	bits uint8
	is4  bool
}

// keyOf returns the routeKey of a destination.
func keyOf(dst netip.Prefix) routeKey {
	return routeKey{addr: dst.Addr().As16(), bits: uint8(dst.Bits()), is4: dst.Addr().Is4()}
}

// followsLinks reports whether the network's automatic routes follow link
// state (Auto.Routes without Auto.FrozenRoutes).
func (n *Network) followsLinks() bool {
	return n.plan.auto.Routes && !n.plan.auto.FrozenRoutes
}

// usable reports whether an interface carries traffic now: it and the
// other end of its veth (for a LAN member, the switch's port) are up.
func usable(ip *ifacePlan) bool {
	in := ip.live
	if in == nil || !in.up.Load() {
		return false
	}
	if l := ip.link; l != nil {
		other := l.a
		if other == ip {
			other = l.b
		}
		if other.live != nil && !other.live.up.Load() {
			return false
		}
	}
	return true
}

// autoRoute is an automatic route as a node has it, with the number of the
// last reroute that wanted it.
type autoRoute struct {
	rp     *routePlan
	wanted uint64
}

// reroute computes every node's automatic routes again over the interfaces
// that are usable now, and replaces, adds or deletes only those that differ
// from what each node has: nodes in parallel, each node's changes in one
// installRoutes call. The caller holds n.mu. It does nothing when the routes
// do not follow the links.
func (n *Network) reroute() error {
	if !n.followsLinks() {
		return nil
	}
	if n.autoNow == nil {
		n.autoNow = make(map[*nodePlan]map[routeKey]*autoRoute, len(n.nodes))
		for _, np := range n.plan.nodes {
			cur := map[routeKey]*autoRoute{}
			for _, rp := range np.routes {
				if rp.auto {
					cur[keyOf(rp.dst)] = &autoRoute{rp: rp}
				}
			}
			n.autoNow[np] = cur
		}
	}
	n.rerouted++
	graphs := n.plan.routeGraphs(usable)
	errs := make([]error, len(n.plan.nodes)) // in topology order
	n.plan.eachNode(func(np *nodePlan, w *routeWalk) {
		errs[np.pos] = n.byName[np.name].followLinks(graphs, w, n.autoNow[np], n.rerouted)
	})
	return errors.Join(errs...)
}

// followLinks makes the node's automatic routes those graphs give, changing
// only those whose first hop differs from cur (adding those cur lacks,
// removing those with no path left), in one installRoutes call, and updates
// cur with the changes the kernel made; gen numbers this reroute.
func (nd *Node) followLinks(graphs []routeGraph, w *routeWalk, cur map[routeKey]*autoRoute, gen uint64) error {
	var changes []routeChange
	for i := range graphs {
		f := graphs[i].f
		nd.net.plan.walkRoutes(nd.p, &graphs[i], w, func(dst netip.Prefix, via edge) {
			k := keyOf(dst)
			old := cur[k]
			if old == nil {
				old = &autoRoute{}
				cur[k] = old
			}
			old.wanted = gen
			if rp := old.rp; rp != nil && len(rp.hops) == 1 && rp.hops[0].via == via.gw && rp.hops[0].dev == via.out {
				return
			}
			changes = append(changes, routeChange{op: routeReplace, rp: newAutoRoute(f, dst, via)})
		})
	}
	for _, a := range cur {
		if a.wanted != gen && a.rp != nil {
			// No path left: the destination has no route, rather than
			// one into the cut. The kernel may have dropped it already
			// with its device.
			changes = append(changes, routeChange{op: routeDel, rp: a.rp})
		}
	}
	err := nd.installRoutes("following the links: ", changes)
	for _, c := range changes {
		if c.err != nil {
			continue
		}
		a := cur[keyOf(c.rp.dst)]
		if c.op == routeDel {
			a.rp = nil
		} else {
			a.rp = c.rp
		}
	}
	return err
}
