package scenario

import (
	"context"

	"github.com/nettestlab/nettest/assertions"
)

// The converged step.

// ConvergedStep waits for the network to converge: every node's routes
// stable for a settle time, then every host reaching every other.
type ConvergedStep struct {
	At     `json:"-"`
	Settle Duration `json:"settle,omitempty" doc:"How long every node's routing table must stay the same. Default: 3s."`
	Within Duration `json:"within,omitempty" doc:"How long to wait for it. Default: 60s."`
	Family Text     `json:"family,omitempty" doc:"ipv4, ipv6 or both: the families the hosts must reach each other over. Default: every family they have." enum:"ipv4,ipv6,both"`
}

func (cs *ConvergedStep) value() any { return cs }

func (cs *ConvergedStep) check(_ *Scenario, l *errList) string {
	checkEnum(l, cs.Family, "family", "ipv4", "ipv6", "both")
	return "converged"
}

func (cs *ConvergedStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	rec := &recorder{}
	opts := asOptions[assertions.ConvergeOption](append(t.options(ctx), familyOptions(cs.Family)...))
	if cs.Settle.D > 0 {
		opts = append(opts, assertions.Settle(cs.Settle.D))
	}
	if cs.Within.D > 0 {
		opts = append(opts, assertions.Within(cs.Within.D))
	}
	assertions.Converged(rec, r.Network, opts...)
	return nil, rec.String()
}
