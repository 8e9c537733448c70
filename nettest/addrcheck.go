package nettest

import "net/netip"

// checkAddrs validates user-given addresses: well-formed, usable on an
// interface, no address twice, no subnet on two segments.
func (p *plan) checkAddrs(errs *problems) {
	n := 0
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			n += len(ip.addrs)
		}
	}
	owner := make(map[netip.Addr]*ifacePlan, n)
	subnets := newSubnetIndex(n)
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			before := len(*errs)
			for _, a := range ip.addrs {
				// The address's ConfigError, made for a problem only: most
				// addresses have none.
				aw := func() ConfigError { return ifaceAt(ip).in("address "+a.String()).field("Addrs", a) }
				if !a.IsValid() {
					errs.at(ifaceAt(ip).field("Addrs", a), "invalid address (zero netip.Prefix)")
					continue
				}
				addr := a.Addr()
				if addr.Is4In6() {
					errs.at(aw(), "IPv4-mapped IPv6 address; write the IPv4 address")
					continue
				}
				if addr.Zone() != "" {
					errs.at(aw(), "address has a zone")
					continue
				}
				switch {
				case addr.IsUnspecified():
					errs.at(aw(), "unspecified address")
					continue
				case addr.IsLoopback():
					errs.at(aw(), "loopback address; every node has its own lo")
					continue
				case addr.IsMulticast():
					errs.at(aw(), "multicast address")
					continue
				case addr.Is6() && addr.IsLinkLocalUnicast():
					errs.at(aw(), "IPv6 link-local address; the kernel gives every interface one")
					continue
				}
				if addr.Is4() && a.Bits() <= 30 {
					m := a.Masked().Addr()
					if addr == m {
						errs.at(aw(), "is the network address of %s; pick a host address", a.Masked())
						continue
					}
					if addr == lastAddr(a) {
						errs.at(aw(), "is the broadcast address of %s; pick a host address", a.Masked())
						continue
					}
				}
				if prev := owner[addr]; prev != nil {
					errs.at(aw(), "duplicate: %s has it already", prev)
					continue
				}
				owner[addr] = ip
				m := a.Masked()
				if s, ok := subnets.overlap(m, seg); ok {
					errs.at(aw(), "subnet %s overlaps %s on %s (%s)", m, s.prefix, segAt(s.seg).Where, s.by)
				} else {
					subnets.add(subnet{m, seg, ip})
				}
			}
			if len(*errs) > before {
				ip.node.bad = true
			}
			if len(ip.addrs) > 0 {
				seg.user = true
			}
		}
	}
	p.checkLoopbacks(errs, owner, subnets)
}

// checkLoopbacks validates the loopback addresses users gave: host
// addresses of their own, on no link or LAN's subnet, each on one node.
func (p *plan) checkLoopbacks(errs *problems, owner map[netip.Addr]*ifacePlan, subnets *subnetIndex) {
	loOwner := map[netip.Addr]*nodePlan{}
	for _, np := range p.nodes {
		for _, a := range np.loopback {
			w := nodeAt(np.idx, np.name).in("loopback "+a.String()).field("Loopback", a)
			problem := ""
			switch {
			case !a.IsValid():
				problem = "invalid address (zero netip.Addr)"
			case a.Is4In6():
				problem = "IPv4-mapped IPv6 address; write the IPv4 address"
			case a.Zone() != "":
				problem = "address has a zone"
			case a.IsUnspecified():
				problem = "unspecified address"
			case a.IsLoopback():
				problem = "is lo's own address already (127.0.0.0/8, ::1); a loopback address is a router ID such as 10.255.0.1"
			case a.IsMulticast():
				problem = "multicast address"
			case a.Is6() && a.IsLinkLocalUnicast():
				problem = "IPv6 link-local address"
			}
			if problem == "" {
				if prev := owner[a]; prev != nil {
					problem = "duplicate: " + prev.String() + " has it already"
				} else if prevNode := loOwner[a]; prevNode != nil {
					problem = "duplicate: " + prevNode.name + "'s loopback has it already"
				} else if s, ok := subnets.overlap(netip.PrefixFrom(a, a.BitLen()), nil); ok {
					problem = "lies in subnet " + s.prefix.String() + " of " + segAt(s.seg).Where + "; a loopback address must be on no link or LAN"
				}
			}
			if problem != "" {
				errs.at(w, "%s", problem)
				np.bad = true
				continue
			}
			loOwner[a] = np
		}
	}
}

// checkMTUs rejects IPv6 on links whose MTU is below IPv6's minimum.
func (p *plan) checkMTUs(errs *problems) {
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			if ip.mtu == 0 || ip.mtu >= 1280 {
				continue
			}
			for _, a := range ip.addrs {
				if a.Addr().Is6() {
					errs.at(ifaceAt(ip).field("MTU", ip.mtu), "MTU %d is below IPv6's minimum of 1280, but %s is IPv6", ip.mtu, a)
					break
				}
			}
		}
	}
}

// lastAddr returns the highest address of the prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
