package scenario

import (
	"context"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// The link-down, link-up, iface-down and iface-up steps.

// linkStep sets a link down or up: its name, or one of its ends.
type linkStep struct {
	ref Text
	up  bool // link-up
}

func (ls *linkStep) value() any { return &ls.ref }

func (ls *linkStep) check(s *Scenario, l *errList) string {
	s.checkLink(l, ls.ref)
	if ls.up {
		return "link up " + ls.ref.V
	}
	return "link down " + ls.ref.V
}

func (ls *linkStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	lk, err := r.Network.Link(ls.ref.V)
	switch {
	case err != nil:
	case ls.up:
		err = lk.SetUp(ctx)
	default:
		err = lk.SetDown()
	}
	return nil, failure(err)
}

// ifaceStep sets one end of a link down or up: node:iface.
type ifaceStep struct {
	ref Text
	up  bool // iface-up
}

func (is *ifaceStep) value() any { return &is.ref }

func (is *ifaceStep) check(s *Scenario, l *errList) string {
	s.iface(l, is.ref, false)
	if is.up {
		return "interface up " + is.ref.V
	}
	return "interface down " + is.ref.V
}

func (is *ifaceStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	in, err := r.iface(is.ref.V)
	switch {
	case err != nil:
	case is.up:
		err = in.SetUp(ctx)
	default:
		err = in.SetDown()
	}
	return nil, failure(err)
}

// iface finds node:iface.
func (r *Run) iface(ref string) (*nettest.Interface, error) {
	nodeName, iface, _ := strings.Cut(ref, ":")
	node, err := r.Network.Node(nodeName)
	if err != nil {
		return nil, err
	}
	return node.Interface(iface)
}
