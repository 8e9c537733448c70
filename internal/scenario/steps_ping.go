package scenario

import (
	"context"

	"github.com/nettestlab/nettest/assertions"
)

// The ping and no-ping steps.

// PingStep is a ping or no-ping check.
type PingStep struct {
	At      `json:"-"`
	From    Text     `json:"from,required" doc:"The node that pings, or node:iface (node:lo) to ping from that interface's (loopback's) address."`
	To      Text     `json:"to,required" doc:"A node (its first address of each family), node:iface, node:lo (its loopback), or an address (10.1.1.2, 127.0.0.1)."`
	Count   int      `json:"count,omitempty" doc:"Echo requests to send. Default: 1." min:"1"`
	Family  Text     `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the target has." enum:"ipv4,ipv6,both"`
	Timeout Duration `json:"timeout,omitempty" doc:"How long each request waits for its reply. Default: 1s."`

	no bool // no-ping
}

func (p *PingStep) value() any { return p }

func (p *PingStep) check(s *Scenario, l *errList) string {
	s.checkNode(l, p.From, true)
	s.checkNode(l, p.To, true)
	checkEnum(l, p.Family, "family", "ipv4", "ipv6", "both")
	if p.Count < 0 {
		l.add(p.At.Of("count"), "count %d: want 1 or more", p.Count)
	}
	name := "ping " + p.From.V + " -> " + p.To.V
	if p.no {
		name = "no " + name
	}
	if p.Family.V != "" && p.Family.V != "both" {
		name += " (" + p.Family.V + ")"
	}
	return name
}

func (p *PingStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	rec := &recorder{}
	opts := asOptions[assertions.PingOption](append(t.options(ctx), familyOptions(p.Family)...))
	opts = append(opts, asOptions[assertions.PingOption](timeoutOptions(p.Timeout))...)
	if p.Count > 0 {
		opts = append(opts, assertions.Count(p.Count))
	}
	if p.no {
		assertions.NoPing(rec, r.Network, p.From.V, p.To.V, opts...)
	} else {
		assertions.Ping(rec, r.Network, p.From.V, p.To.V, opts...)
	}
	return nil, rec.String()
}
