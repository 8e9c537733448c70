package scenario

import (
	"context"
	"strings"
)

// The eventually step.

// Eventually retries a check.
type Eventually struct {
	At     `json:"-"`
	Within Duration `json:"within,required" doc:"How long to keep trying: \"5s\"."`
	Every  Duration `json:"every,omitempty" doc:"Time between tries. Default: 100ms."`
	Step   Check    `json:"step,required" doc:"The check: one of ping, no-ping, dial, route, exec, saw-packet, no-packet."`
}

func (ev *Eventually) value() any { return ev }

func (ev *Eventually) check(s *Scenario, l *errList) string {
	switch acts := ev.Step.actions(); len(acts) {
	case 0:
		l.add(ev.At.Of("step"), "eventually: step: give one check: %s", strings.Join(checkKeys, ", "))
	case 1:
		return ev.Step.acts[0].act.check(s, l) + " (within " + ev.Within.D.String() + ")"
	default:
		l.add(ev.At.Of("step"), "eventually: step: %s: one check per step", strings.Join(acts, " and "))
	}
	return ""
}

func (ev *Eventually) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	return ev.Step.acts[0].act.run(ctx, r, timing{ev.Within.D, ev.Every.D})
}
