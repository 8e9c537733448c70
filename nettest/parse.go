package nettest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseEndpoint reads "node" or "node:iface".
func ParseEndpoint(s string) (Endpoint, error) {
	node, iface, found := strings.Cut(s, ":")
	if node == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: want node or node:iface", s)
	}
	if found && iface == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: empty interface name after ':'", s)
	}
	return Endpoint{Node: node, Iface: iface}, nil
}

// ParsePrefix reads an interface address with its prefix length, such as
// "10.1.1.1/24" or "fd00:1::1/64". Unlike [netip.ParsePrefix] its error says
// what is wrong in words a user can act on.
func ParsePrefix(s string) (netip.Prefix, error) {
	addr, bits, found := strings.Cut(s, "/")
	if !found {
		return netip.Prefix{}, fmt.Errorf("address %s: missing prefix length (write it as %s/24 or %s/64)", s, s, s)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %s: invalid", s)
	}
	n, err := strconv.Atoi(bits)
	if err != nil || n < 0 || n > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("address %s: prefix length %q is not a number from 0 to %d", s, bits, a.BitLen())
	}
	return netip.PrefixFrom(a, n), nil
}

// ParseLoopback reads a loopback address (see NodeConfig.Loopback): an
// IPv4 or IPv6 address, optionally written with /32 or /128.
func ParseLoopback(s string) (netip.Addr, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("loopback %s: not an address", s)
	}
	if hasBits && bits != strconv.Itoa(a.BitLen()) {
		return netip.Addr{}, fmt.Errorf("loopback %s: a loopback address is a host address: /%d or no prefix length", s, a.BitLen())
	}
	return a, nil
}

// ParseRoute reads a route in the syntax of ip-route(8), the subset nettest knows:
//
//	default via 10.0.0.1
//	10.2.0.0/16 via 10.0.0.1 dev eth0 metric 100
//	192.0.2.0/24 dev eth1
//	2001:db8::/32 nexthop via fd00::1 weight 2 nexthop via fd00:1::1
//	default via r1
//	default via 10.0.1.1 table 100
//
// A bare address as destination is a host route (/32 or /128). A gateway
// that is not an address names a node (see Route.ViaNode).
func ParseRoute(s string) (Route, error) {
	words := strings.Fields(s)
	fail := func(format string, args ...any) (Route, error) {
		return Route{}, fmt.Errorf("route %q: %s", s, fmt.Sprintf(format, args...))
	}
	if len(words) == 0 {
		return fail("empty")
	}
	var r Route
	switch dst := words[0]; {
	case dst == "default":
	case strings.Contains(dst, "/"):
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return fail("destination %s is not a prefix such as 10.0.0.0/8", dst)
		}
		r.Dst = p
	default:
		a, err := netip.ParseAddr(dst)
		if err != nil {
			return fail("destination %s is neither default, a prefix nor an address", dst)
		}
		r.Dst = netip.PrefixFrom(a, a.BitLen())
	}
	value := func(i int) (string, bool) {
		if i+1 >= len(words) {
			return "", false
		}
		return words[i+1], true
	}
	var hop *NextHop // the nexthop being read, if any
	for i := 1; i < len(words); i += 2 {
		key := words[i]
		if key == "nexthop" {
			r.NextHops = append(r.NextHops, NextHop{})
			hop = &r.NextHops[len(r.NextHops)-1]
			i-- // nexthop takes no value of its own
			continue
		}
		v, ok := value(i)
		if !ok {
			return fail("%s needs a value", key)
		}
		switch key {
		case "via":
			// An address, or a node ("r1", "r1:eth0") whose address to use.
			a, err := netip.ParseAddr(v)
			if err != nil && looksLikeAddr(v) {
				return fail("gateway %s is not an address", v)
			}
			switch {
			case hop != nil && err == nil:
				hop.Via = a
			case hop != nil:
				hop.ViaNode = v
			case err == nil:
				r.Via = a
			default:
				r.ViaNode = v
			}
		case "dev":
			if hop != nil {
				hop.Dev = v
			} else {
				r.Dev = v
			}
		case "metric", "priority", "preference":
			if hop != nil {
				return fail("metric belongs before the first nexthop")
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fail("metric %s is not a number", v)
			}
			r.Metric = n
		case "table", "lookup":
			if hop != nil {
				return fail("table belongs before the first nexthop")
			}
			switch v {
			case "main":
				r.Table = tableMain
			case "default":
				r.Table = tableDefault
			default:
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return fail("table %s is neither a number from 1 to 4294967295 nor main or default", v)
				}
				r.Table = int(n)
			}
		case "weight":
			if hop == nil {
				return fail("weight belongs to a nexthop")
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return fail("weight %s is not a number from 1 to 256", v)
			}
			hop.Weight = n
		default:
			return fail("unknown word %q (want via, dev, metric, table, nexthop or weight)", key)
		}
	}
	return r, nil
}

// looksLikeAddr reports whether s is meant as an address (digits and dots,
// or has a colon and only hex digits and colons), rather than a node name.
func looksLikeAddr(s string) bool {
	dotted := true
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '.') {
			dotted = false
			break
		}
	}
	if dotted {
		return true
	}
	if strings.Count(s, ":") >= 2 {
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	return false
}

// String formats the route in the syntax [ParseRoute] reads.
func (r Route) String() string {
	var b strings.Builder
	if r.Dst.IsValid() {
		b.WriteString(r.Dst.String())
	} else {
		b.WriteString("default")
	}
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.ViaNode != "" {
		b.WriteString(" via " + r.ViaNode)
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.Itoa(r.Metric))
	}
	if r.Table != 0 {
		b.WriteString(" table " + strconv.Itoa(r.Table))
	}
	for _, h := range r.NextHops {
		b.WriteString(" nexthop")
		if h.Via.IsValid() {
			b.WriteString(" via " + h.Via.String())
		}
		if h.ViaNode != "" {
			b.WriteString(" via " + h.ViaNode)
		}
		if h.Dev != "" {
			b.WriteString(" dev " + h.Dev)
		}
		if h.Weight != 0 {
			b.WriteString(" weight " + strconv.Itoa(h.Weight))
		}
	}
	return b.String()
}
