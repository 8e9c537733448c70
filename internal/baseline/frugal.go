package baseline

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Frugal is a chain built as Chain builds it but sparing file descriptors,
// as a hand-written tool must to build more namespaces than half the
// open-file limit: one descriptor per namespace, held until Close, and
// netlink sockets only while a node is configured.
type Frugal struct {
	fds []netns.NsHandle
	up  [][]int // per node, the indexes of its veth ends
}

// ChainFrugal builds h1 - r1 - ... - rN - h2 with direct netlink calls on one
// thread: routers get ip_forward=1; with addrs, every link gets the /30 that
// nettest's automatic IPv4 addressing gives it (no routes). Per node it
// holds one descriptor; a netlink handle is open only while the node is
// configured (while it makes its namespace, and for the two links a
// router is on, one after the other), and a socket for the readiness dump
// only while it waits for the node. It returns when every veth end is
// ready, as Chain does.
func ChainFrugal(routers int, addrs bool) (_ *Frugal, err error) {
	nodes := routers + 2
	t := &Frugal{up: make([][]int, nodes)}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	err = nsthread.Run(func() (func() error, error) {
		orig, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("opening this thread's namespace: %w", err)
		}
		return nsthread.RestoreTo(orig), nil
	}, func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		for i := range nodes {
			if i > 0 {
				if err := netns.Set(orig); err != nil {
					return err
				}
			}
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("namespace %d: unshare: %w", i, err)
			}
			fd, err := netns.Get()
			if err != nil {
				return fmt.Errorf("namespace %d: %w", i, err)
			}
			t.fds = append(t.fds, fd)
			if i > 0 && i < nodes-1 {
				if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
					return fmt.Errorf("namespace %d: ip_forward: %w", i, err)
				}
			}
			h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
			if err != nil {
				return fmt.Errorf("namespace %d: netlink: %w", i, err)
			}
			err = h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}})
			h.Close()
			if err != nil {
				return fmt.Errorf("namespace %d: lo up: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Links in order: node j's handle serves as link j-1's B end, then link
	// j's A end, and is closed after.
	var ha *netlink.Handle
	defer func() {
		if ha != nil {
			ha.Close()
		}
	}()
	prevIdx := 0
	for j := 0; j+1 < nodes; j++ {
		if ha == nil {
			if ha, err = netlink.NewHandleAt(t.fds[j], unix.NETLINK_ROUTE); err != nil {
				return nil, fmt.Errorf("link %d: netlink: %w", j, err)
			}
		}
		hb, err := netlink.NewHandleAt(t.fds[j+1], unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("link %d: netlink: %w", j, err)
		}
		aName := "eth1"
		if j == 0 {
			aName = "eth0"
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.Index, attrs.Flags = aName, index, net.FlagUp
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(t.fds[j+1])}
		err = ha.LinkAdd(veth)
		var peer netlink.Link
		if err == nil {
			peer, err = hb.LinkByName("eth0")
		}
		if err == nil {
			err = hb.LinkSetUp(peer)
		}
		if err == nil && addrs {
			sub := subnet(j)
			err = ha.AddrAdd(dev(index), &netlink.Addr{IPNet: ipNet(host(sub, 1), 30)})
			if err == nil {
				err = hb.AddrAdd(dev(peer.Attrs().Index), &netlink.Addr{IPNet: ipNet(host(sub, 2), 30)})
			}
		}
		ha.Close()
		ha = hb
		if err != nil {
			return nil, fmt.Errorf("link %d: %w", j, err)
		}
		if j > 0 {
			t.up[j] = append(t.up[j], prevIdx)
		}
		t.up[j] = append(t.up[j], index)
		prevIdx = peer.Attrs().Index
	}
	t.up[nodes-1] = []int{prevIdx}
	if err := t.waitUp(10 * time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

// waitUp waits for every veth end to be ready (see Topo.waitUp), opening
// one node's socket at a time.
func (t *Frugal) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for k, fd := range t.fds {
		sock, err := nl.GetNetlinkSocketAt(fd, netns.None(), unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("node %d: netlink: %w", k, err)
		}
		ns := &namespace{fd: -1, raw: &nl.SocketHandle{Socket: sock}}
		err = waitNode(ns, t.up[k], deadline, timeout)
		ns.close()
		if err != nil {
			return fmt.Errorf("node %d: %w", k, err)
		}
	}
	return nil
}

// waitNode polls one namespace until the interfaces of up are ready.
func waitNode(ns *namespace, up []int, deadline time.Time, timeout time.Duration) error {
	pause := 20 * time.Microsecond
	for {
		ready, err := readyLinks(ns)
		if err != nil {
			return fmt.Errorf("links: %w", err)
		}
		pending := 0
		for _, idx := range up {
			if !ready[idx] {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d interfaces not ready after %v", pending, timeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// Close releases every namespace.
func (t *Frugal) Close() error {
	var errs []error
	for i := len(t.fds) - 1; i >= 0; i-- {
		errs = append(errs, t.fds[i].Close())
	}
	t.fds = nil
	return errors.Join(errs...)
}
