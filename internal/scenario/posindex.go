package scenario

import (
	"strconv"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// posIndex maps the topology's elements, as the engine's ConfigErrors name
// them ("link r1-r2: end r1:eth0: address 10.0.0.300/24"), back to where
// they are written in the file.
type posIndex struct {
	top         Pos
	nodes       map[string]Pos // node name -> its name's position
	nodeIdx     []Pos          // "node #N"
	nodeSysctls map[string]Pos
	routes      map[string]map[string]Pos // node -> route as Route.String() -> position
	links       map[string]*segPos        // the engine's link name -> positions
	linkIdx     []Pos
	linkNames   []string
	isLink      map[string]bool
	lans        map[string]*segPos
	lanIdx      []Pos
	// every position of each name, for duplicates
	nodeAll, linkAll, lanAll map[string][]Pos
}

// segPos is where a link or LAN and its ends are written.
type segPos struct {
	pos    Pos
	mtu    Pos
	ends   []endText
	impair map[string]dirAt // a link's impairments by the engine's direction ("A->B")
	via    Pos              // a link's impair-via
}

func newPosIndex() *posIndex {
	return &posIndex{
		nodes: map[string]Pos{}, nodeSysctls: map[string]Pos{}, routes: map[string]map[string]Pos{},
		links: map[string]*segPos{}, lans: map[string]*segPos{}, isLink: map[string]bool{},
		nodeAll: map[string][]Pos{}, linkAll: map[string][]Pos{}, lanAll: map[string][]Pos{},
	}
}

func (x *posIndex) route(node string, r nettest.Route, p Pos) {
	if x.routes[node] == nil {
		x.routes[node] = map[string]Pos{}
	}
	if _, ok := x.routes[node][r.String()]; !ok {
		x.routes[node][r.String()] = p
	}
}

// lookup finds the position of what a ConfigError's Where names, as
// precisely as it can: the element, then the part of it.
func (x *posIndex) lookup(where, problem string) Pos {
	parts := strings.Split(where, ": ")
	kind, name, _ := strings.Cut(parts[0], " ")
	byNum := func(list []Pos) (Pos, bool) {
		n, err := strconv.Atoi(strings.TrimPrefix(name, "#"))
		if !strings.HasPrefix(name, "#") || err != nil || n < 1 || n > len(list) {
			return Pos{}, false
		}
		return list[n-1], true
	}
	if strings.HasPrefix(problem, "duplicate ") && len(parts) == 1 {
		if all := map[string]map[string][]Pos{"node": x.nodeAll, "link": x.linkAll, "lan": x.lanAll}[kind][name]; len(all) > 1 {
			return all[1]
		}
	}
	switch kind {
	case "node":
		p, ok := x.nodes[name]
		if q, found := byNum(x.nodeIdx); found {
			p, ok = q, true
		}
		if !ok {
			return x.top
		}
		if len(parts) > 1 && strings.HasPrefix(parts[1], "route ") {
			if rp, ok := x.routes[name][strings.TrimPrefix(parts[1], "route ")]; ok {
				return rp
			}
		}
		if strings.HasPrefix(problem, "sysctl ") {
			return x.nodeSysctls[name]
		}
		return p
	case "link", "lan":
		var sp *segPos
		if kind == "link" {
			sp = x.links[name]
			if p, ok := byNum(x.linkIdx); ok {
				return p
			}
		} else {
			sp = x.lans[name]
			if p, ok := byNum(x.lanIdx); ok {
				return p
			}
		}
		if sp == nil {
			return x.top
		}
		if strings.HasPrefix(problem, "MTU ") && len(parts) == 1 {
			return sp.mtu
		}
		if len(parts) < 2 {
			return sp.pos
		}
		end := sp.end(parts[1])
		if end == nil {
			return sp.pos
		}
		if len(parts) > 2 {
			if a, ok := strings.CutPrefix(parts[2], "address "); ok {
				return end.addrPos(a)
			}
		}
		return end.t.Pos
	}
	return x.top
}

// end finds the end that a part of a Where names: "end A", "end B",
// "end r1:eth0", "member h1", "interface r1:eth0".
func (sp *segPos) end(part string) *endText {
	ref, ok := strings.CutPrefix(part, "end ")
	if !ok {
		if ref, ok = strings.CutPrefix(part, "member "); !ok {
			if ref, ok = strings.CutPrefix(part, "interface "); !ok {
				return nil
			}
		}
	}
	switch ref {
	case "A", "B":
		if i := int(ref[0] - 'A'); i < len(sp.ends) {
			return &sp.ends[i]
		}
		return nil
	}
	node, iface, _ := strings.Cut(ref, ":")
	for i, e := range sp.ends {
		if e.ep.Node == node && (e.ep.Iface == "" || e.ep.Iface == iface) {
			return &sp.ends[i]
		}
	}
	return nil
}

// addrPos finds an address in the end's text.
func (e *endText) addrPos(addr string) Pos {
	words := strings.Fields(e.t.V)
	off := 0
	for _, w := range words {
		at := off + strings.Index(e.t.V[off:], w)
		off = at + len(w)
		if p, err := nettest.ParsePrefix(w); err == nil && (p.String() == addr || w == addr) {
			return e.t.At(at)
		}
	}
	return e.t.Pos
}
