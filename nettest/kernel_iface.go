package nettest

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// KernelInterface is an interface of a node as its kernel has it now (not
// as the topology describes it): what status displays and reports show.
type KernelInterface struct {
	Name         string
	Index        int
	Up           bool   // administratively up (the IFF_UP flag)
	OperState    string // "UP", "LOWERLAYERDOWN", "UNKNOWN", ...; "DOWN" when not Up
	MTU          int
	HardwareAddr net.HardwareAddr
	Master       string         // the bridge it is a port of, if any
	Addrs        []netip.Prefix // every address, link-local ones included
}

// KernelInterfaces lists the node's interfaces and their addresses as its
// kernel has them, in the kernel's order.
func (n *Node) KernelInterfaces() (out []KernelInterface, err error) {
	err = n.net.use("node "+n.p.name, func() error {
		out, err = n.kernelInterfaces()
		return err
	})
	return out, err
}

func (n *Node) kernelInterfaces() ([]KernelInterface, error) {
	h := n.ns.nl
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("%s: listing links: %w", n.where(), err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []KernelInterface
	for _, l := range links {
		a := l.Attrs()
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("%s: listing addresses of %s: %w", n.where(), a.Name, err)
		}
		ki := KernelInterface{
			Name: a.Name, Index: a.Index, Up: a.Flags&net.FlagUp != 0, OperState: operState(a),
			MTU: a.MTU, HardwareAddr: a.HardwareAddr, Master: names[a.MasterIndex],
		}
		for _, ad := range addrs {
			if p, ok := prefixOf(ad.IPNet); ok {
				ki.Addrs = append(ki.Addrs, p)
			}
		}
		out = append(out, ki)
	}
	return out, nil
}

// prefixOf converts a netlink address to a netip.Prefix.
func prefixOf(ipn *net.IPNet) (netip.Prefix, bool) {
	if ipn == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(ipn.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := ipn.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
