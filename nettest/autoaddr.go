package nettest

import (
	"math/bits"
	"net/netip"
	"slices"
)

// pool hands out aligned subnets of a prefix, skipping those that overlap
// subnets the user took.
type pool struct {
	within netip.Prefix
	next   netip.Addr
	taken  []span // inside within, sorted, disjoint
}

// span is a range of addresses, first to last.
type span struct{ first, last netip.Addr }

func newPool(within netip.Prefix, taken []netip.Prefix) *pool {
	var spans []span
	for _, t := range taken {
		if t.Overlaps(within) {
			spans = append(spans, span{t.Masked().Addr(), lastAddr(t)})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.first.Compare(b.first) })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 && s.first.Compare(merged[n-1].last) <= 0 {
			if s.last.Compare(merged[n-1].last) > 0 {
				merged[n-1].last = s.last
			}
			continue
		}
		merged = append(merged, s)
	}
	return &pool{within: within, next: within.Addr(), taken: merged}
}

// take returns the next free subnet with the given prefix length. The
// candidates only go up, so the taken spans wholly below are dropped as it
// goes: each is looked at a bounded number of times in all.
func (p *pool) take(bitsLen int) (netip.Prefix, bool) {
	host := p.next.BitLen() - bitsLen
	for p.next.IsValid() && p.within.Contains(p.next) {
		// Align up to the block size.
		cand := netip.PrefixFrom(p.next, bitsLen).Masked()
		if cand.Addr() != p.next {
			p.next = addPow2(cand.Addr(), host)
			continue
		}
		p.next = addPow2(cand.Addr(), host)
		for len(p.taken) > 0 && p.taken[0].last.Less(cand.Addr()) {
			p.taken = p.taken[1:]
		}
		if len(p.taken) == 0 || lastAddr(cand).Less(p.taken[0].first) {
			return cand, true
		}
		// Skip the rest of the taken span at once.
		if after := p.taken[0].last.Next(); !after.IsValid() {
			p.next = after
		} else if p.next.Less(after) {
			p.next = after
		}
	}
	return netip.Prefix{}, false
}

// addPow2 returns a + 2^n, or the zero Addr on overflow.
func addPow2(a netip.Addr, n int) netip.Addr {
	b := a.AsSlice()
	i := len(b) - 1 - n/8
	carry := uint(1) << (n % 8)
	for ; i >= 0 && carry > 0; i-- {
		s := uint(b[i]) + carry
		b[i] = byte(s)
		carry = s >> 8
	}
	if carry > 0 {
		return netip.Addr{}
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}

// nthHost returns the n-th address of a subnet (n=1 is the first host).
func nthHost(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for bit := 0; n > 0; bit, n = bit+1, n>>1 {
		if n&1 == 1 {
			a = addPow2(a, bit)
		}
	}
	return a
}

// autoAddress gives every segment the user left unaddressed a subnet per
// enabled family, and each end an address in it.
func (p *plan) autoAddress(errs *problems) {
	pools, ok := p.auto.pools(errs)
	if !p.auto.IPv4 && !p.auto.IPv6 {
		for _, np := range p.nodes {
			if np.autoLo {
				errs.at(nodeAt(np.idx, np.name).field("AutoLoopback", true), "an automatic loopback needs automatic IPv4 or IPv6 addressing (Auto.IPv4, Auto.IPv6); give its addresses instead")
			}
		}
	}
	if !ok || !p.auto.IPv4 && !p.auto.IPv6 {
		return
	}
	var taken []netip.Prefix
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			for _, a := range ip.addrs {
				taken = append(taken, a.Masked())
			}
		}
	}
	for _, np := range p.nodes {
		for _, a := range np.loopback {
			if a.IsValid() {
				taken = append(taken, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	taken = p.autoLoopbacks(errs, pools, taken)
	v4l, v4s := newPool(pools.v4Links, taken), newPool(pools.v4LANs, taken)
	v6l, v6s := newPool(pools.v6Links, taken), newPool(pools.v6LANs, taken)
	for _, seg := range p.segs {
		if seg.user {
			continue
		}
		type want struct {
			on   bool
			pool *pool
			bits int
		}
		wants := []want{{p.auto.IPv4, v4l, p.auto.linkBits()}, {p.auto.IPv6, v6l, 64}}
		if seg.isLAN {
			host := max(8, bits.Len(uint(len(seg.ends)+1)))
			wants = []want{{p.auto.IPv4, v4s, 32 - host}, {p.auto.IPv6, v6s, 64}}
		}
		for _, w := range wants {
			if !w.on {
				continue
			}
			sub, ok := w.pool.take(w.bits)
			if !ok {
				holds, hint := roomHint(w.pool.within, w.bits, seg.isLAN)
				c := segAt(seg).field("Addrs", nil)
				c.Hint = hint
				errs.at(c, "automatic addressing: %s has no free /%d left (%s)", w.pool.within, w.bits, holds)
				continue
			}
			first := 1
			if w.bits == 31 {
				first = 0 // RFC 3021: both addresses of a /31 are hosts
			}
			for k, ip := range seg.ends {
				ip.addrs = append(ip.addrs, netip.PrefixFrom(nthHost(sub, k+first), sub.Bits()))
			}
		}
	}
}

// autoLoopbacks gives every node that asks for automatic loopbacks an
// address of each family automatic addressing has on, from the loopback
// pools, from their second address up, skipping taken; it returns taken
// with those it gave.
func (p *plan) autoLoopbacks(errs *problems, pools autoPools, taken []netip.Prefix) []netip.Prefix {
	var v4, v6 *pool
	var given []netip.Prefix
	for _, np := range p.nodes {
		if !np.autoLo || np.isSwitch {
			continue
		}
		if v4 == nil {
			v4, v6 = newPool(pools.v4Loopbacks, taken), newPool(pools.v6Loopbacks, taken)
			v4.next, v6.next = v4.next.Next(), v6.next.Next()
		}
		for _, w := range []struct {
			on   bool
			pool *pool
		}{{p.auto.IPv4, v4}, {p.auto.IPv6, v6}} {
			if !w.on {
				continue
			}
			sub, ok := w.pool.take(w.pool.within.Addr().BitLen())
			if !ok {
				errs.at(nodeAt(np.idx, np.name).field("AutoLoopback", true), "automatic loopback: %s has no free address left; give loopback addresses yourself", w.pool.within)
				continue
			}
			np.loopback = append(np.loopback, sub.Addr())
			given = append(given, sub)
		}
	}
	return append(taken, given...)
}

// subnetsOf returns the distinct subnets of family f on a segment.
func (seg *segment) subnetsOf(f Family) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range seg.ends {
		for _, a := range ip.addrs {
			if FamilyOf(a.Addr()) != f {
				continue
			}
			m := a.Masked()
			dup := false
			for _, o := range out {
				if o == m {
					dup = true
				}
			}
			if !dup {
				out = append(out, m)
			}
		}
	}
	return out
}
