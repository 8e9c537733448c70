package nettest

import (
	"fmt"
	"os"

	"github.com/nettestlab/nettest/internal/taplink"
)

// A userspace link (MechanismUserspace) is two TAP devices, one in each
// node, and a forwarder in this process (package internal/taplink) that
// impairs what crosses between them.

// isTap reports whether the interface is an end of a userspace link.
func (in *Interface) isTap() bool { return in.link != nil && in.link.tap != nil }

// createTap makes the link's two TAP ends, configures them like a veth
// pair's (name, MAC, MTU, up) and starts the forwarder.
func (l *Link) createTap(imp Impairments) error {
	var ends [2]*os.File
	closeEnds := func() {
		for _, f := range ends {
			if f != nil {
				f.Close()
			}
		}
	}
	for k, in := range []*Interface{l.a, l.b} {
		err := in.node.Do(func() (err error) {
			ends[k], err = taplink.Open(in.p.name)
			return kernelError("tun", err)
		})
		if err != nil {
			closeEnds()
			return fmt.Errorf("nettest: link %s: %s: %w", l.p.name, in, err)
		}
		if err := in.setUpTap(); err != nil {
			closeEnds()
			return fmt.Errorf("nettest: link %s: setting up %s: %w", l.p.name, in, err)
		}
	}
	l.tap = taplink.Start(ends[0], ends[1], taplink.Impairment(imp.AB), taplink.Impairment(imp.BA), taplink.Seed(l.p.name))
	return nil
}

// setUpTap gives a TAP end what a veth end gets at creation: its MAC, MTU
// and bridge, and brings it up.
func (in *Interface) setUpTap() error {
	h := in.node.ns.nl
	link, err := h.LinkByName(in.p.name)
	if err == nil {
		in.idx.Store(int64(link.Attrs().Index))
		err = h.LinkSetHardwareAddr(link, in.p.mac)
	}
	if err == nil && in.p.mtu > 0 {
		err = h.LinkSetMTU(link, in.p.mtu)
	}
	if err == nil && in.p.master != nil {
		err = h.LinkSetMasterByIndex(link, in.p.master.index)
	}
	if err == nil {
		err = h.LinkSetUp(link)
	}
	return err
}
