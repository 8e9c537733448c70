package nettest

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// expandViaNode turns gateways named by node into addresses: the named
// node's address on a segment both nodes are on, of the route's family. A
// default route via a node becomes one route per family the segment has.
func (p *plan) expandViaNode(np *nodePlan, r Route) ([]Route, error) {
	uses := r.ViaNode != ""
	for _, h := range r.NextHops {
		uses = uses || h.ViaNode != ""
	}
	if !uses {
		return []Route{r}, nil
	}
	if r.ViaNode != "" && r.Via.IsValid() {
		return nil, errors.New("give via as an address or as a node, not both")
	}
	fams := []Family{IPv4, IPv6}
	if r.Dst.IsValid() {
		fams = []Family{FamilyOf(r.Dst.Addr())}
	}
	var out []Route
	var lastErr error
	for _, f := range fams {
		x := r
		x.NextHops = append([]NextHop(nil), r.NextHops...)
		var err error
		if r.ViaNode != "" {
			x.Via, x.Dev, err = p.gatewayOf(np, r.ViaNode, r.Dev, f)
			x.ViaNode = ""
		}
		for i := range x.NextHops {
			if h := &x.NextHops[i]; h.ViaNode != "" && err == nil {
				h.Via, h.Dev, err = p.gatewayOf(np, h.ViaNode, h.Dev, f)
				h.ViaNode = ""
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		if !r.Dst.IsValid() {
			x.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if f == IPv6 {
				x.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, lastErr
	}
	return out, nil
}

// gatewayOf finds ref's ("node" or "node:iface") address of family f on a
// segment np is on too, with np's interface there (dev, if given).
func (p *plan) gatewayOf(np *nodePlan, ref, dev string, f Family) (netip.Addr, string, error) {
	name, iface, _ := strings.Cut(ref, ":")
	gw := p.byName[name]
	switch {
	case gw == nil || gw.isSwitch:
		return netip.Addr{}, "", fmt.Errorf("gateway %q is not a node", ref)
	case gw == np:
		return netip.Addr{}, "", fmt.Errorf("gateway %q is the node itself", ref)
	case iface != "" && gw.byIface[iface] == nil:
		return netip.Addr{}, "", fmt.Errorf("gateway %q: node %s has no interface %q", ref, name, iface)
	}
	for _, mine := range np.ifaces {
		if dev != "" && mine.name != dev {
			continue
		}
		for _, theirs := range gw.ifaces {
			if mine.seg == nil || theirs.seg != mine.seg || iface != "" && theirs.name != iface {
				continue
			}
			if a, ok := commonSubnetAddr(mine, theirs, f); ok {
				return a, mine.name, nil
			}
		}
	}
	return netip.Addr{}, "", fmt.Errorf("gateway %q: %s shares no %s subnet with %s", ref, name, f, np.name)
}

// resolveRoute checks a user route against the node's interfaces and fills in
// what the kernel needs, or says what is wrong.
func (np *nodePlan) resolveRoute(r Route) (*routePlan, error) {
	rp := &routePlan{r: r, metric: r.Metric, table: r.Table}
	if r.Metric < 0 || int64(r.Metric) > 1<<32-1 {
		return nil, fmt.Errorf("metric %d is outside 0..4294967295", r.Metric)
	}
	switch {
	case r.Table < 0 || int64(r.Table) > 1<<32-1:
		return nil, fmt.Errorf("table %d is outside 1..4294967295", r.Table)
	case r.Table == tableLocal:
		return nil, errors.New("table 255 is the kernel's local table; pick another (1 to 252, or above 255)")
	case r.Table == tableMain:
		rp.table = 0
	}
	hops := r.NextHops
	if len(hops) > 0 {
		if r.Via.IsValid() || r.Dev != "" {
			return nil, errors.New("give either via/dev or nexthops, not both")
		}
	} else {
		if !r.Via.IsValid() && r.Dev == "" {
			return nil, errors.New("needs a gateway (via), an interface (dev) or nexthops")
		}
		hops = []NextHop{{Via: r.Via, Dev: r.Dev}}
	}
	// The family comes from the destination, else from the gateways.
	var fam Family
	if r.Dst.IsValid() {
		fam = FamilyOf(r.Dst.Addr())
		if r.Dst.Addr().Is4In6() {
			return nil, errors.New("destination is an IPv4-mapped IPv6 prefix; write the IPv4 prefix")
		}
		if r.Dst.Masked() != r.Dst {
			return nil, fmt.Errorf("destination %s has host bits set; did you mean %s?", r.Dst, r.Dst.Masked())
		}
	} else {
		for _, h := range hops {
			if h.Via.IsValid() {
				fam = FamilyOf(h.Via)
				break
			}
		}
		if fam == 0 {
			return nil, errors.New("a default route without a gateway is ambiguous; write 0.0.0.0/0 or ::/0 as destination")
		}
	}
	rp.family = fam
	rp.dst = r.Dst
	if !rp.dst.IsValid() {
		rp.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if fam == IPv6 {
			rp.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	for _, h := range hops {
		if h.Weight < 0 || h.Weight > 256 {
			return nil, fmt.Errorf("weight %d is outside 1..256", h.Weight)
		}
		if !h.Via.IsValid() && h.Dev == "" {
			return nil, errors.New("a nexthop needs a gateway (via) or an interface (dev)")
		}
		hp := hopPlan{via: h.Via, weight: max(h.Weight, 1)}
		if h.Dev != "" {
			hp.dev = np.byIface[h.Dev]
			if hp.dev == nil {
				return nil, fmt.Errorf("node %s has no interface %q (it has %s)", np.name, h.Dev, listNames(np.ifaceNames()))
			}
		}
		if via := h.Via; via.IsValid() {
			if FamilyOf(via) != fam {
				return nil, fmt.Errorf("gateway %s is %s but the destination is %s", via, FamilyOf(via), fam)
			}
			if via.IsUnspecified() || via.IsMulticast() || via.IsLoopback() {
				return nil, fmt.Errorf("gateway %s is not a unicast address", via)
			}
			if via.Is6() && via.IsLinkLocalUnicast() {
				if hp.dev == nil {
					return nil, fmt.Errorf("link-local gateway %s needs dev", via)
				}
			} else {
				onlink := np.onLink(via, hp.dev)
				if onlink == nil {
					return nil, fmt.Errorf("gateway %s is on no connected subnet of %s (%s)", via, np.name, np.subnetList(hp.dev))
				}
				if onlink.hasAddr(via) {
					return nil, fmt.Errorf("gateway %s is %s's own address", via, onlink)
				}
				hp.dev = onlink
			}
		}
		rp.hops = append(rp.hops, hp)
	}
	return rp, nil
}

// onLink returns the interface (dev, if given) with a subnet holding a.
func (np *nodePlan) onLink(a netip.Addr, dev *ifacePlan) *ifacePlan {
	for _, ip := range np.ifaces {
		if dev != nil && ip != dev {
			continue
		}
		for _, p := range ip.addrs {
			if p.Masked().Contains(a) {
				return ip
			}
		}
	}
	return nil
}

func (ip *ifacePlan) hasAddr(a netip.Addr) bool {
	for _, p := range ip.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

func (np *nodePlan) ifaceNames() []string {
	var names []string
	for _, ip := range np.ifaces {
		names = append(names, ip.name)
	}
	return names
}

func (np *nodePlan) subnetList(dev *ifacePlan) string {
	var s []string
	for _, ip := range np.ifaces {
		if dev != nil && ip != dev {
			continue
		}
		for _, p := range ip.addrs {
			s = append(s, ip.name+" "+p.Masked().String())
		}
	}
	if len(s) == 0 {
		return "it has no addresses"
	}
	return "it has " + listNames(s)
}
