package nettest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// readyTimeout bounds the wait for interfaces to come up when the caller's
// context has no earlier deadline.
const readyTimeout = 10 * time.Second

// waitReady returns when every interface of the nodes that nettest set up
// reports operstate UP. A veth's carrier comes on when both ends are up, and
// the kernel's linkwatch then activates its queue and sets operstate: a
// packet sent before that is dropped, so this is what "ready" means.
func waitReady(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, node := range nodes {
		pause := 50 * time.Microsecond
		for {
			pending, err := node.notUp()
			if err != nil {
				return fmt.Errorf("%s: listing interfaces: %w", node.where(), err)
			}
			if len(pending) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: interfaces not up: %s: %w", node.where(), strings.Join(pending, ", "), ctx.Err())
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Millisecond)
		}
	}
	return nil
}

// notUp lists the node's interfaces that should be up but are not yet, each
// with the state the kernel reports.
func (n *Node) notUp() ([]string, error) {
	links, err := n.ns.nl.LinkList()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]netlink.Link, len(links))
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	var pending []string
	for _, in := range n.ifaces {
		if !in.up {
			continue
		}
		l := byName[in.p.name]
		switch {
		case l == nil:
			pending = append(pending, in.p.name+" (missing)")
		case l.Attrs().OperState != netlink.OperUp:
			pending = append(pending, in.p.name+" (operstate "+l.Attrs().OperState.String()+")")
		}
	}
	return pending, nil
}

// kernelError marks errors that mean "this kernel has no such feature".
func kernelError(feature string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("kernel lacks %s support: %w (%v)", feature, ErrUnsupported, err)
	}
	return err
}
