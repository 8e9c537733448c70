package nettest

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
)

// routeKey identifies an automatic route on a node: one per destination.
type routeKey struct {
	family Family
	dst    netip.Prefix
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

// reroute computes every node's automatic routes again over the interfaces
// that are usable now, and replaces, adds or deletes those that differ from
// what each node has, nodes in parallel. The caller holds n.mu. It does
// nothing when the routes do not follow the links.
func (n *Network) reroute() error {
	if !n.followsLinks() {
		return nil
	}
	if n.autoNow == nil {
		n.autoNow = make(map[*nodePlan]map[routeKey]*routePlan, len(n.nodes))
		for _, np := range n.plan.nodes {
			cur := map[routeKey]*routePlan{}
			for _, rp := range np.routes {
				if rp.auto {
					cur[routeKey{rp.family, rp.dst}] = rp
				}
			}
			n.autoNow[np] = cur
		}
	}
	want := n.plan.shortestPaths(usable)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 8)
	)
	for _, node := range n.nodes {
		if node.p.isSwitch {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := node.applyAutoRoutes(n.autoNow[node.p], want[node.p]); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyAutoRoutes makes the node's automatic routes those of want, changing
// only what differs from cur, in one installRoutes call, and updates cur
// with the changes the kernel made.
func (nd *Node) applyAutoRoutes(cur map[routeKey]*routePlan, want []*routePlan) error {
	keep := make(map[routeKey]bool, len(want))
	var changes []routeChange
	for _, rp := range want {
		k := routeKey{rp.family, rp.dst}
		keep[k] = true
		if old := cur[k]; old != nil && sameHops(old, rp) {
			continue
		}
		changes = append(changes, routeChange{op: routeReplace, rp: rp})
	}
	for k, rp := range cur {
		if !keep[k] {
			// No path left: the destination has no route, rather than
			// one into the cut. The kernel may have dropped it already
			// with its device.
			changes = append(changes, routeChange{op: routeDel, rp: rp})
		}
	}
	err := nd.installRoutes("following the links: ", changes)
	for _, c := range changes {
		if c.err != nil {
			continue
		}
		k := routeKey{c.rp.family, c.rp.dst}
		if c.op == routeDel {
			delete(cur, k)
		} else {
			cur[k] = c.rp
		}
	}
	return err
}

// sameHops reports whether two routes send traffic the same way.
func sameHops(a, b *routePlan) bool {
	return a.metric == b.metric && slices.EqualFunc(a.hops, b.hops, func(x, y hopPlan) bool {
		return x.via == y.via && x.dev == y.dev && x.weight == y.weight
	})
}
