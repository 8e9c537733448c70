package scenario

import (
	"context"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// The allow, deny, reject, default-deny, default-allow, firewall-clear,
// masquerade, snat, port-forward and nat-clear steps: each is a change to
// a node's nftables (netcheck.go converts them, as it does the topology's
// firewall and NAT).

// RuleStep adds a rule to a node's firewall.
type RuleStep struct {
	At   `json:"-"`
	Node Text `json:"node,required" doc:"The node whose firewall takes the rule."`
	RuleSpec

	verb string // allow, deny or reject
	nodeChange
}

// PolicyStep sets the default policy of a node's directions.
type PolicyStep struct {
	At        `json:"-"`
	Node      Text       `json:"node,required" doc:"The node."`
	Direction StringList `json:"direction,omitempty" doc:"input, output, forward, or a list of them. Default: all three."`

	verb string // default-deny or default-allow
	nodeChange
}

// SNATStep adds source NAT to a node.
type SNATStep struct {
	At   `json:"-"`
	Node Text `json:"node,required" doc:"The router."`
	SNATSpec

	nodeChange
}

// PortForwardStep adds a port forward to a node.
type PortForwardStep struct {
	At   `json:"-"`
	Node Text `json:"node,required" doc:"The router (or a host forwarding to one of its own addresses)."`
	PortForwardSpec

	nodeChange
}

// clearStep removes a node's firewall and NAT, or its NAT only.
type clearStep struct {
	node Text
	nat  bool // nat-clear
	nodeChange
}

// masqueradeStep is NAT out of node:iface.
type masqueradeStep struct {
	ref Text
	nodeChange
}

// nodeChange is a firewall or NAT change a step makes in a node.
type nodeChange struct {
	op *nodeOp // nil when the step has errors
}

// changer is a step that changes a node's nftables: they need nf_tables.
type changer interface {
	change() *nodeOp
}

func (c *nodeChange) change() *nodeOp { return c.op }

// set keeps op if node exists, and returns the step's default name.
func (c *nodeChange) set(s *Scenario, l *errList, node Text, op *nodeOp, verb, desc string) string {
	if s.checkNode(l, node, false) {
		c.op = op
	}
	return strings.TrimSpace(verb + " " + node.V + " " + desc)
}

func (c *nodeChange) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	return nil, failure(r.apply(c.op))
}

func (rs *RuleStep) value() any { return rs }

func (rs *RuleStep) check(s *Scenario, l *errList) string {
	op, desc := s.firewallOp(l, rs.Node.V, rs.verb, &rs.RuleSpec, rs.At, nil)
	return rs.set(s, l, rs.Node, op, rs.verb, desc)
}

func (ps *PolicyStep) value() any { return ps }

func (ps *PolicyStep) check(s *Scenario, l *errList) string {
	op, desc := s.firewallOp(l, ps.Node.V, ps.verb, nil, ps.At, ps.Direction)
	return ps.set(s, l, ps.Node, op, strings.Replace(ps.verb, "-", " ", 1), desc)
}

func (cs *clearStep) value() any { return &cs.node }

func (cs *clearStep) check(s *Scenario, l *errList) string {
	if cs.nat {
		return cs.set(s, l, cs.node, &nodeOp{node: cs.node.V, apply: func(n *nettest.Node) error { return n.NAT().Clear() }}, "nat clear", "")
	}
	return cs.set(s, l, cs.node, &nodeOp{node: cs.node.V, apply: func(n *nettest.Node) error { return n.Firewall().Clear() }}, "firewall clear", "")
}

func (ms *masqueradeStep) value() any { return &ms.ref }

func (ms *masqueradeStep) check(s *Scenario, l *errList) string {
	if node, iface, ok := s.iface(l, ms.ref, false); ok {
		ms.op = masqueradeOp(node, iface)
	}
	return "masquerade " + ms.ref.V
}

func (sn *SNATStep) value() any { return sn }

func (sn *SNATStep) check(s *Scenario, l *errList) string {
	op, desc := snatOp(l, sn.Node.V, &sn.SNATSpec, sn.At)
	return sn.set(s, l, sn.Node, op, "snat", desc)
}

func (pf *PortForwardStep) value() any { return pf }

func (pf *PortForwardStep) check(s *Scenario, l *errList) string {
	op, desc := portForwardOp(l, pf.Node.V, &pf.PortForwardSpec, pf.At)
	return pf.set(s, l, pf.Node, op, "port forward", desc)
}

// applySetup installs the topology's firewall and NAT.
func (r *Run) applySetup() error {
	for _, op := range r.S.setup {
		if err := r.apply(op); err != nil {
			return err
		}
	}
	return nil
}

func (r *Run) apply(op *nodeOp) error {
	node, err := r.Network.Node(op.node)
	if err != nil {
		return err
	}
	return op.apply(node)
}
