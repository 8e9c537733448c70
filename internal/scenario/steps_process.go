package scenario

import (
	"context"
	"errors"
	"fmt"
)

// The start and stop steps.

// procStep starts or stops a process: all its instances, or one
// (NAME@NODE).
type procStep struct {
	ref  Text
	stop bool // stop
}

func (ps *procStep) value() any { return &ps.ref }

func (ps *procStep) check(s *Scenario, l *errList) string {
	if !s.procRef[ps.ref.V] {
		l.add(ps.ref.Pos, "unknown process %q (processes: %s)", ps.ref.V, listNames(s.instanceNames()))
	}
	if ps.stop {
		return "stop " + ps.ref.V
	}
	return "start " + ps.ref.V
}

func (ps *procStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	var errs []error
	for _, in := range r.S.Instances(ps.ref.V) {
		if !ps.stop {
			errs = append(errs, r.startProc(ctx, in))
			continue
		}
		p := r.procs[in.Name]
		if p == nil || p.cmd.Exited() && p.stopped {
			errs = append(errs, fmt.Errorf("process %s: not running", in.Name))
			continue
		}
		p.stopped = true
		if err := p.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("process %s: %w", in.Name, err))
		}
	}
	return nil, failure(errors.Join(errs...))
}
