package nettest

import (
	"net"

	"github.com/vishvananda/netlink"
)

// nsHandle makes netlink.Handle's requests inside a namespace, with its
// sockets opened as needed (see namespace.acquire); the methods are
// netlink.Handle's that nettest uses.
type nsHandle struct{ ns *namespace }

// do runs fn with the namespace's handle.
func (h nsHandle) do(fn func(*netlink.Handle) error) error {
	return h.ns.with(func(c *nsConn) error { return fn(c.nl) })
}

func (h nsHandle) LinkAdd(l netlink.Link) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkAdd(l) })
}

func (h nsHandle) LinkDel(l netlink.Link) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkDel(l) })
}

func (h nsHandle) LinkSetUp(l netlink.Link) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkSetUp(l) })
}

func (h nsHandle) LinkSetDown(l netlink.Link) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkSetDown(l) })
}

func (h nsHandle) LinkSetMasterByIndex(l netlink.Link, index int) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkSetMasterByIndex(l, index) })
}

func (h nsHandle) LinkSetHardwareAddr(l netlink.Link, hw net.HardwareAddr) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkSetHardwareAddr(l, hw) })
}

func (h nsHandle) LinkSetMTU(l netlink.Link, mtu int) error {
	return h.do(func(x *netlink.Handle) error { return x.LinkSetMTU(l, mtu) })
}

func (h nsHandle) LinkByName(name string) (l netlink.Link, err error) {
	err = h.do(func(x *netlink.Handle) error { l, err = x.LinkByName(name); return err })
	return l, err
}

func (h nsHandle) LinkByIndex(index int) (l netlink.Link, err error) {
	err = h.do(func(x *netlink.Handle) error { l, err = x.LinkByIndex(index); return err })
	return l, err
}

func (h nsHandle) LinkList() (ls []netlink.Link, err error) {
	err = h.do(func(x *netlink.Handle) error { ls, err = x.LinkList(); return err })
	return ls, err
}

func (h nsHandle) AddrAdd(l netlink.Link, a *netlink.Addr) error {
	return h.do(func(x *netlink.Handle) error { return x.AddrAdd(l, a) })
}

func (h nsHandle) AddrReplace(l netlink.Link, a *netlink.Addr) error {
	return h.do(func(x *netlink.Handle) error { return x.AddrReplace(l, a) })
}

func (h nsHandle) AddrDel(l netlink.Link, a *netlink.Addr) error {
	return h.do(func(x *netlink.Handle) error { return x.AddrDel(l, a) })
}

func (h nsHandle) AddrList(l netlink.Link, family int) (as []netlink.Addr, err error) {
	err = h.do(func(x *netlink.Handle) error { as, err = x.AddrList(l, family); return err })
	return as, err
}

func (h nsHandle) RouteAdd(r *netlink.Route) error {
	return h.do(func(x *netlink.Handle) error { return x.RouteAdd(r) })
}

func (h nsHandle) RouteReplace(r *netlink.Route) error {
	return h.do(func(x *netlink.Handle) error { return x.RouteReplace(r) })
}

func (h nsHandle) RouteDel(r *netlink.Route) error {
	return h.do(func(x *netlink.Handle) error { return x.RouteDel(r) })
}

func (h nsHandle) RouteList(l netlink.Link, family int) (rs []netlink.Route, err error) {
	err = h.do(func(x *netlink.Handle) error { rs, err = x.RouteList(l, family); return err })
	return rs, err
}

func (h nsHandle) RouteGet(dst net.IP) (rs []netlink.Route, err error) {
	err = h.do(func(x *netlink.Handle) error { rs, err = x.RouteGet(dst); return err })
	return rs, err
}

func (h nsHandle) RouteGetWithOptions(dst net.IP, o *netlink.RouteGetOptions) (rs []netlink.Route, err error) {
	err = h.do(func(x *netlink.Handle) error { rs, err = x.RouteGetWithOptions(dst, o); return err })
	return rs, err
}

func (h nsHandle) NeighList(index, family int) (ns []netlink.Neigh, err error) {
	err = h.do(func(x *netlink.Handle) error { ns, err = x.NeighList(index, family); return err })
	return ns, err
}

func (h nsHandle) QdiscReplace(q netlink.Qdisc) error {
	return h.do(func(x *netlink.Handle) error { return x.QdiscReplace(q) })
}

func (h nsHandle) QdiscDel(q netlink.Qdisc) error {
	return h.do(func(x *netlink.Handle) error { return x.QdiscDel(q) })
}

func (h nsHandle) RouteListFiltered(family int, filter *netlink.Route, mask uint64) (rs []netlink.Route, err error) {
	err = h.do(func(x *netlink.Handle) error { rs, err = x.RouteListFiltered(family, filter, mask); return err })
	return rs, err
}

func (h nsHandle) RuleAdd(r *netlink.Rule) error {
	return h.do(func(x *netlink.Handle) error { return x.RuleAdd(r) })
}

func (h nsHandle) RuleList(family int) (rs []netlink.Rule, err error) {
	err = h.do(func(x *netlink.Handle) error { rs, err = x.RuleList(family); return err })
	return rs, err
}
