package nettest

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
)

// Assign fills the fields of the struct dst points to with handles of the
// network, each named by its `nettest` tag, so that a test declares what it
// uses once instead of looking each thing up by name:
//
//	var h struct {
//		Client *nettest.Node      `nettest:"h1"`
//		Uplink *nettest.Link      `nettest:"r1-r2"`
//		Eth0   *nettest.Interface `nettest:"r1:eth0"`
//		Server netip.Addr         `nettest:"h2,ipv6"`
//		R1ID   netip.Addr         `nettest:"r1:lo"`
//	}
//	err := n.Assign(&h)
//
// A *Node field takes a node or LAN switch name; a *Link field a link name or
// one of its ends ("node:iface"); an *Interface field "node:iface"; a
// netip.Addr or netip.Prefix field "node", "node:iface" or "node:lo" (the
// node's loopback address, a /32 or /128 prefix) with ",ipv4" or ",ipv6"
// (IPv4 when omitted). Untagged fields are left alone. Every tag that
// names nothing, and every tagged field of another type, is reported in one
// error; dst is not changed unless all tags resolve.
func (n *Network) Assign(dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("nettest: Assign needs a pointer to a struct, not %T", dst)
	}
	s := v.Elem()
	type set struct {
		field reflect.Value
		value reflect.Value
	}
	var sets []set
	var errs []error
	for i := range s.NumField() {
		f := s.Type().Field(i)
		tag, ok := f.Tag.Lookup("nettest")
		if !ok {
			continue
		}
		val, err := n.handle(f.Type, tag)
		if err == nil && !f.IsExported() {
			err = errors.New("field is not exported")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s `nettest:%q`: %w", f.Name, tag, err))
			continue
		}
		sets = append(sets, set{s.Field(i), val})
	}
	if len(errs) > 0 {
		return fmt.Errorf("nettest: Assign %T: %w", dst, errors.Join(errs...))
	}
	for _, x := range sets {
		x.field.Set(x.value)
	}
	return nil
}

var (
	nodeType   = reflect.TypeFor[*Node]()
	linkType   = reflect.TypeFor[*Link]()
	ifaceType  = reflect.TypeFor[*Interface]()
	addrType   = reflect.TypeFor[netip.Addr]()
	prefixType = reflect.TypeFor[netip.Prefix]()
)

// handle resolves one tag for a field of type t.
func (n *Network) handle(t reflect.Type, tag string) (reflect.Value, error) {
	ref, opt, _ := strings.Cut(tag, ",")
	if ref == "" {
		return reflect.Value{}, errors.New("empty name")
	}
	if opt != "" && t != addrType && t != prefixType {
		return reflect.Value{}, fmt.Errorf("option %q applies only to netip.Addr and netip.Prefix fields", opt)
	}
	switch t {
	case nodeType:
		node, err := n.Node(ref)
		return reflect.ValueOf(node), err
	case linkType:
		l, err := n.Link(ref)
		return reflect.ValueOf(l), err
	case ifaceType:
		t, err := n.Lookup(ref)
		if err != nil {
			return reflect.Value{}, err
		}
		if t.Loopback {
			return reflect.Value{}, fmt.Errorf("%q is the node's loopback, not an interface nettest made: use a netip.Addr field for its address", ref)
		}
		if t.Interface == nil {
			return reflect.Value{}, fmt.Errorf("%q: an interface is named node:iface", ref)
		}
		return reflect.ValueOf(t.Interface), nil
	case addrType, prefixType:
		f := IPv4
		switch strings.ToLower(opt) {
		case "", "ipv4", "4":
		case "ipv6", "6":
			f = IPv6
		default:
			return reflect.Value{}, fmt.Errorf("option %q: want ipv4 or ipv6", opt)
		}
		a, err := n.Addr(ref, f)
		if err != nil {
			return reflect.Value{}, err
		}
		if t == addrType {
			return reflect.ValueOf(a), nil
		}
		return reflect.ValueOf(n.prefixOf(a)), nil
	}
	return reflect.Value{}, fmt.Errorf("type %s is not one Assign fills (*nettest.Node, *nettest.Link, *nettest.Interface, netip.Addr, netip.Prefix)", t)
}

// prefixOf returns the interface prefix holding address a.
func (n *Network) prefixOf(a netip.Addr) netip.Prefix {
	for _, node := range n.nodes {
		for _, p := range node.Addrs() {
			if p.Addr() == a {
				return p
			}
		}
	}
	return netip.PrefixFrom(a, a.BitLen())
}
