package scenario

import (
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// posIndex maps the topology's elements, as the engine's ConfigErrors name
// them by their fields (the node, link or LAN by its index, the end, the
// member, the route, the field), to where they are written in the file.
type posIndex struct {
	top          Pos
	nodeIdx      []Pos          // by index in Topology.Nodes: the node's name
	nodeSysctls  []Pos          // the same: its sysctls key
	routes       [][]Pos        // the same: each of its routes, in order
	rules        [][]Pos        // the same: each of its policy rules, in order
	nodeLoopback []loopbackAt   // the same: its loopback key
	linkSegs     []*segPos      // by index in Topology.Links
	linkNames    []string       // the engine's link names, given or generated
	links        map[string]int // index in linkSegs by the engine's link name
	lanSegs      []*segPos      // by index in Topology.LANs
}

// loopbackAt is where a node's loopback key and its addresses are written.
type loopbackAt struct {
	pos   Pos
	addrs []Text
}

// segPos is where a link or LAN and its ends are written.
type segPos struct {
	pos    Pos
	mtu    Pos
	ends   []Text           // as written: the file's endpoints or members
	impair map[string]dirAt // a link's impairments by the engine's direction ("AB", "BA")
	via    Pos              // a link's impair-via
}

func newPosIndex() *posIndex {
	return &posIndex{links: map[string]int{}}
}

// nth returns list[i], or ok false when i is not an index of it.
func nth[T any](list []T, i int) (T, bool) {
	if i < 0 || i >= len(list) {
		var zero T
		return zero, false
	}
	return list[i], true
}

// lookup finds where the element a ConfigError names is written, as
// precisely as it can: the element, then the part of it.
func (x *posIndex) lookup(ce *nettest.ConfigError) Pos {
	if p, ok := nth(x.nodeIdx, ce.NodeIndex); ok && ce.LinkIndex < 0 && ce.LANIndex < 0 {
		if rp, ok := nth(x.routes[ce.NodeIndex], ce.Route); ok {
			return rp
		}
		if rp, ok := nth(x.rules[ce.NodeIndex], ce.PolicyRule); ok {
			return rp
		}
		if ce.Field == "Loopback" || ce.Field == "AutoLoopback" {
			lo := x.nodeLoopback[ce.NodeIndex]
			for _, a := range lo.addrs {
				if addr, err := nettest.ParseLoopback(a.V); err == nil && addr.String() == ce.Value {
					return a.Pos
				}
			}
			return lo.pos
		}
		if ce.Sysctl != "" {
			return x.nodeSysctls[ce.NodeIndex]
		}
		return p
	}
	var sp *segPos
	var end int
	if s, ok := nth(x.linkSegs, ce.LinkIndex); ok {
		sp, end = s, strings.Index("AB", ce.End)
		if ce.End == "" {
			end = -1
		}
	} else if s, ok := nth(x.lanSegs, ce.LANIndex); ok {
		sp, end = s, ce.Member
	} else {
		return x.top
	}
	if e, ok := nth(sp.ends, end); ok {
		if ce.Field == "Addrs" && ce.Value != "" {
			return addrPos(e, ce.Value)
		}
		return e.Pos
	}
	if ce.Field == "MTU" {
		return sp.mtu
	}
	return sp.pos
}

// impairMessage places an engine's problem with a link's impairments: at
// the direction's key ("impair both: jitter ..."), or at impair-via for
// the mechanism. ok is false for other problems.
func impairMessage(ce *nettest.ConfigError, dirs map[string]dirAt, via Pos) (Pos, string, bool) {
	if dir, ok := strings.CutPrefix(ce.Field, "Impair."); ok && len(dir) >= 2 {
		if d, ok := dirs[dir[:2]]; ok {
			return d.pos, "impair " + d.word + ": " + ce.Problem, true
		}
	}
	if ce.Field == "ImpairVia" && via != (Pos{}) {
		return via, "impair-via: " + ce.Problem, true
	}
	return Pos{}, "", false
}

// addrPos finds an address in an end's text.
func addrPos(e Text, addr string) Pos {
	words := strings.Fields(e.V)
	off := 0
	for _, w := range words {
		at := off + strings.Index(e.V[off:], w)
		off = at + len(w)
		if p, err := nettest.ParsePrefix(w); err == nil && (p.String() == addr || w == addr) {
			return e.At(at)
		}
	}
	return e.Pos
}
