package nettest

import "net/netip"

// A subnet is a user-given subnet, the segment it is on and the interface
// that first gave it.
type subnet struct {
	prefix netip.Prefix
	seg    *segment
	by     *ifacePlan
}

// subnetIndex finds, among the subnets added so far, the first (in the
// order added) that overlaps a prefix and is on another segment, in time
// proportional to the number of distinct prefix lengths in use rather than
// the number of subnets: two prefixes overlap exactly when one contains
// the other, so the candidates are the query's ancestors at each length in
// use (looked up in exact) and the subnets inside it (cover, which keeps
// for every prefix at a length in use the subnets it contains).
type subnetIndex struct {
	list  []subnet
	lens  map[lenKey]bool
	exact map[netip.Prefix]firstTwo
	cover map[netip.Prefix]firstTwo
}

// lenKey is a prefix length of one family.
type lenKey struct {
	is6  bool
	bits int
}

// firstTwo keeps, of the subnets a key stands for, the first one added
// and the first one on another segment than that: between them, they hold
// the first subnet that is not on any given segment. Indexes are 1-based
// (0 is none).
type firstTwo struct{ a, b int }

// newSubnetIndex returns an index sized for n subnets.
func newSubnetIndex(n int) *subnetIndex {
	return &subnetIndex{list: make([]subnet, 0, n), lens: map[lenKey]bool{}, exact: make(map[netip.Prefix]firstTwo, n), cover: make(map[netip.Prefix]firstTwo, n)}
}

func (x *subnetIndex) note(m map[netip.Prefix]firstTwo, p netip.Prefix, i int) {
	f := m[p]
	switch {
	case f.a == 0:
		f.a = i
	case f.b == 0 && x.list[i-1].seg != x.list[f.a-1].seg:
		f.b = i
	default:
		return
	}
	m[p] = f
}

// notOn returns the first subnet of f not on seg (1-based, 0 for none).
func (x *subnetIndex) notOn(f firstTwo, seg *segment) int {
	if f.a != 0 && x.list[f.a-1].seg != seg {
		return f.a
	}
	return f.b
}

// useLen makes a prefix length one in use, covering the subnets added so
// far at it. There are at most 33 + 129 lengths, so this costs at most
// that many passes over the subnets in all.
func (x *subnetIndex) useLen(k lenKey) {
	if x.lens[k] {
		return
	}
	x.lens[k] = true
	for i, s := range x.list {
		if s.prefix.Addr().Is6() == k.is6 && s.prefix.Bits() >= k.bits {
			x.note(x.cover, netip.PrefixFrom(s.prefix.Addr(), k.bits).Masked(), i+1)
		}
	}
}

// overlap returns the first subnet added that overlaps p (a masked prefix)
// and is not on seg.
func (x *subnetIndex) overlap(p netip.Prefix, seg *segment) (subnet, bool) {
	is6 := p.Addr().Is6()
	x.useLen(lenKey{is6, p.Bits()})
	best := x.notOn(x.cover[p], seg) // inside p, or p itself
	for k := range x.lens {
		if k.is6 != is6 || k.bits >= p.Bits() {
			continue
		}
		// An ancestor of p at a length in use.
		if i := x.notOn(x.exact[netip.PrefixFrom(p.Addr(), k.bits).Masked()], seg); i != 0 && (best == 0 || i < best) {
			best = i
		}
	}
	if best == 0 {
		return subnet{}, false
	}
	return x.list[best-1], true
}

// add adds a subnet (its prefix masked).
func (x *subnetIndex) add(s subnet) {
	is6 := s.prefix.Addr().Is6()
	x.useLen(lenKey{is6, s.prefix.Bits()})
	x.list = append(x.list, s)
	i := len(x.list)
	x.note(x.exact, s.prefix, i)
	for k := range x.lens {
		if k.is6 == is6 && k.bits <= s.prefix.Bits() {
			x.note(x.cover, netip.PrefixFrom(s.prefix.Addr(), k.bits).Masked(), i)
		}
	}
}
