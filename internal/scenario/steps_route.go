package scenario

import (
	"context"
	"strings"

	"github.com/nettestlab/nettest/assertions"
)

// The route step.

// RouteStep is a route check: give one of via, dev, src, proto or none.
type RouteStep struct {
	At     `json:"-"`
	Node   Text `json:"node,required" doc:"The node whose kernel is asked."`
	To     Text `json:"to,required" doc:"The destination: a node, node:iface, node:lo (its loopback), an address or a prefix."`
	Via    Text `json:"via,omitempty" doc:"Expected gateway: an address, a node (any of its addresses) or node:iface."`
	Dev    Text `json:"dev,omitempty" doc:"Expected outgoing interface."`
	Src    Text `json:"src,omitempty" doc:"Expected source address: an address, a node or node:iface."`
	None   bool `json:"none,omitempty" doc:"true: the node has no route to it."`
	Proto  Text `json:"proto,omitempty" doc:"Expected protocol of the route, as ip route names it: ospf, bgp, bird, zebra, static, kernel (a connected subnet), boot (nettest's own routes)."`
	Family Text `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the destination has." enum:"ipv4,ipv6,both"`
}

func (rt *RouteStep) value() any { return rt }

func (rt *RouteStep) check(s *Scenario, l *errList) string {
	s.checkNode(l, rt.Node, false)
	s.checkNode(l, rt.To, true)
	checkEnum(l, rt.Family, "family", "ipv4", "ipv6", "both")
	var want []string
	if rt.Via.V != "" {
		s.checkNode(l, rt.Via, true)
		want = append(want, "via "+rt.Via.V)
	}
	if rt.Dev.V != "" {
		want = append(want, "dev "+rt.Dev.V)
	}
	if rt.Src.V != "" {
		s.checkNode(l, rt.Src, true)
		want = append(want, "src "+rt.Src.V)
	}
	if rt.Proto.V != "" {
		want = append(want, "proto "+rt.Proto.V)
	}
	if rt.None {
		want = append(want, "none")
	}
	if len(want) != 1 {
		l.add(rt.At.Pos, "route: give one of via, dev, src, proto or none: true")
	}
	return "route " + rt.Node.V + " -> " + rt.To.V + ": " + strings.Join(want, " ")
}

func (rt *RouteStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	rec := &recorder{}
	n := r.Network
	opts := asOptions[assertions.RouteOption](append(t.options(ctx), familyOptions(rt.Family)...))
	switch {
	case rt.Via.V != "":
		assertions.RouteVia(rec, n, rt.Node.V, rt.To.V, rt.Via.V, opts...)
	case rt.Dev.V != "":
		assertions.RouteDev(rec, n, rt.Node.V, rt.To.V, rt.Dev.V, opts...)
	case rt.Src.V != "":
		assertions.RouteSrc(rec, n, rt.Node.V, rt.To.V, rt.Src.V, opts...)
	case rt.Proto.V != "":
		assertions.RouteProto(rec, n, rt.Node.V, rt.To.V, rt.Proto.V, opts...)
	default:
		assertions.NoRoute(rec, n, rt.Node.V, rt.To.V, opts...)
	}
	return nil, rec.String()
}
