package assertions

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// target is a node, one of its interfaces, its loopback ("r1:lo"), an
// address or (for route checks) a prefix, as named in a check: what [nettest.Network.Lookup] found.
type target struct{ nettest.Target }

// resolve finds what ref names: "h2", "h2:eth1", "r1:lo", "198.18.0.14", "fd00::1",
// or with prefixes, "198.18.4.0/24". An unknown node or interface fails
// with the names the network has; a link is refused.
func resolve(n *nettest.Network, ref string, prefixes bool) (target, error) {
	t, err := n.Lookup(ref)
	switch {
	case err != nil:
		return target{}, err
	case t.Prefix.IsValid() && !prefixes:
		return target{}, fmt.Errorf("%s is a prefix: want a node, node:iface or an address", ref)
	case t.Link != nil:
		return target{}, fmt.Errorf("%s is a link: want a node, node:iface or an address", ref)
	}
	return target{t}, nil
}

// resolveNode resolves a node's name; "node:iface" is refused.
func resolveNode(n *nettest.Network, name string) (*nettest.Node, error) {
	if strings.Contains(name, ":") {
		return nil, fmt.Errorf("%q: want a node's name", name)
	}
	return n.Node(name)
}

// addrs returns the target's configured addresses.
func (t target) addrs() []netip.Addr { return t.Addrs() }

// families returns the families the target has, IPv4 first.
func (t target) families() []nettest.Family {
	var out []nettest.Family
	for _, a := range t.addrs() {
		if f := nettest.FamilyOf(a); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// addrOf returns the target's address of family f: the literal, or the first
// of the node's (interface's) addresses of that family.
func (t target) addrOf(f nettest.Family) (netip.Addr, error) {
	for _, a := range t.addrs() {
		if nettest.FamilyOf(a) == f {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no %s address", t.Ref, f)
}

// label names the target with the address used, given as s:
// "h2 (198.18.0.14)", or for a literal, s alone.
func (t target) label(s string) string {
	if t.Node == nil {
		return s
	}
	return t.Ref + " (" + s + ")"
}

// familiesFor returns the families a check covers: those asked for, else
// the target's. A literal address or prefix is its own family, which must
// be among those asked for.
func familiesFor(c config, t target) ([]nettest.Family, error) {
	if t.Node != nil {
		if len(c.families) > 0 {
			return c.families, nil
		}
		fs := t.families()
		if len(fs) == 0 {
			return nil, fmt.Errorf("%s has no address", t.Ref)
		}
		return fs, nil
	}
	f := nettest.FamilyOf(t.addrs()[0])
	if len(c.families) > 0 && !slices.Contains(c.families, f) {
		return nil, fmt.Errorf("%s is an %s address, but the check asks for %s", t.Ref, f, familyList(c.families))
	}
	return []nettest.Family{f}, nil
}

func familyList(fs []nettest.Family) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, " and ")
}

// routeNote says how node's kernel routes dst, for failure messages:
// "; h1's kernel routes it: 198.18.0.14 via 198.18.0.2 dev eth0 src 198.18.0.1".
func routeNote(node *nettest.Node, dst netip.Addr) string {
	r, err := node.RouteGet(dst)
	switch {
	case err == nil:
		return fmt.Sprintf("; %s's kernel routes it: %s", node, r)
	case errors.Is(err, nettest.ErrNoRoute):
		return fmt.Sprintf("; %s's kernel has no route to it", node)
	}
	return fmt.Sprintf("; %s's route to it: %v", node, err)
}
