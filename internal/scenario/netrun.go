package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/nettest"
)

// The steps that impair, fault, filter, translate and capture, as a run
// makes them.

// partition is a partition in place, with its name ("" for none).
type partition struct {
	name string
	p    *nettest.Partition
}

// runCapture is a capture a step started.
type runCapture struct {
	name, on string
	c        *nettest.Capture
	stopped  bool // by a capture-stop step, which reported how
}

// KeptCapture is a capture file left after a run: every capture of a run
// that failed, or of a run with Options.Artifacts.
type KeptCapture struct {
	Name   string // the capture's name in the file
	On     string // node:iface
	Path   string // the pcapng file
	Frames int
}

// String says where the capture is, in the words of fixtures.Capture:
// "capture h2:eth0 kept: /tmp/.../h2-eth0.pcapng (14 frames; tshark -r or wireshark opens it)".
func (k KeptCapture) String() string {
	name := k.On
	if k.Name != k.On {
		name = k.Name + " (" + k.On + ")"
	}
	return fmt.Sprintf("capture %s kept: %s (%d frames; tshark -r or wireshark opens it)", name, k.Path, k.Frames)
}

// KeptCaptures returns the capture files the run left, once it is closed.
func (r *Run) KeptCaptures() []KeptCapture { return r.kept }

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

// netStep runs a step that netcheck.go checked; ok is false for the others.
func (r *Run) netStep(ctx context.Context, st *StepPlan) (failure string, ok bool) {
	s := st.Spec
	fail := func(err error) (string, bool) {
		if err != nil {
			return err.Error(), true
		}
		return "", true
	}
	switch {
	case st.op != nil:
		return fail(r.apply(st.op))
	case s.IfaceDown != nil, s.IfaceUp != nil:
		ref := cmpPtr(s.IfaceDown, s.IfaceUp)
		in, err := r.iface(ref.V)
		if err != nil {
			return fail(err)
		}
		if s.IfaceDown != nil {
			return fail(in.SetDown())
		}
		return fail(in.SetUp(ctx))
	case s.Impair != nil:
		l, err := r.Network.Link(s.Impair.Link.V)
		if err == nil {
			err = l.Impair(st.impair)
		}
		if errors.Is(err, nettest.ErrUnsupported) {
			err = fmt.Errorf("%w (in the scenario: impair-via: userspace on the link)", err)
		}
		return fail(err)
	case s.Flap != nil:
		l, err := r.Network.Link(s.Flap.Link.V)
		if err != nil {
			return fail(err)
		}
		return fail(<-l.Flap(ctx, s.Flap.Down.D, s.Flap.Up.D, max(s.Flap.Times, 1)))
	case s.Partition != nil, s.Isolate != nil:
		var nodes []string
		name := ""
		if p := s.Partition; p != nil {
			for _, n := range p.Nodes {
				nodes = append(nodes, n.V)
			}
			name = p.Name.V
		} else {
			nodes, name = []string{s.Isolate.V}, s.Isolate.V
		}
		p, err := r.Network.Partition(nodes...)
		if err != nil {
			return fail(err)
		}
		r.parts = append(r.parts, partition{name, p})
		return "", true
	case s.Heal != nil:
		var errs []error
		healed := false
		for i := len(r.parts) - 1; i >= 0; i-- {
			if p := r.parts[i]; s.Heal.All || p.name == s.Heal.Name.V {
				errs = append(errs, p.p.Heal(ctx))
				r.parts = slices.Delete(r.parts, i, i+1)
				healed = true
			}
		}
		if !healed && !s.Heal.All {
			errs = append(errs, fmt.Errorf("heal %s: no partition of that name is in place (its step failed)", s.Heal.Name.V))
		}
		return fail(errors.Join(errs...))
	case s.Capture != nil:
		return fail(r.startCapture(s.Capture))
	case s.CaptureStop != nil:
		if rc := r.captures[s.CaptureStop.V]; rc != nil {
			rc.stopped = true
			return fail(rc.c.Stop())
		}
		return fail(fmt.Errorf("capture %s: not started", s.CaptureStop.V))
	}
	return "", false
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

// startCapture starts a capture into the run's capture folder.
func (r *Run) startCapture(c *CaptureStep) error {
	name := cmpOr(c.Name.V, c.Iface.V)
	if err := r.captureDir(); err != nil {
		return fmt.Errorf("capture %s: %w", name, err)
	}
	nodeName, iface, _ := strings.Cut(c.Iface.V, ":")
	node, err := r.Network.Node(nodeName)
	if err != nil {
		return err
	}
	path := filepath.Join(r.capDir, fileName(name)+".pcapng")
	for k := 2; slices.ContainsFunc(r.capOrder, func(rc *runCapture) bool { return rc.c.Path() == path }); k++ {
		path = filepath.Join(r.capDir, fmt.Sprintf("%s-%d.pcapng", fileName(name), k))
	}
	capture, err := node.Capture(iface, path)
	if err != nil {
		return err
	}
	rc := &runCapture{name: name, on: c.Iface.V, c: capture}
	r.captures[name] = rc
	r.capOrder = append(r.capOrder, rc)
	return nil
}

// captureDir makes the folder the run's captures go to, once:
// Artifacts/<scenario>, or a temporary folder.
func (r *Run) captureDir() error {
	if r.capDir != "" {
		return nil
	}
	if r.opts.Artifacts != "" {
		dir := filepath.Join(r.opts.Artifacts, fileName(r.S.Name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		r.capDir = dir
		return nil
	}
	dir, err := owner.MkdirTemp("", ScratchPrefix+"capture-"+r.S.Name+"-")
	if err != nil {
		return err
	}
	r.capDir, r.capTmp = dir, true
	return nil
}

// stopCaptures stops the captures still running (before the network
// closes).
func (r *Run) stopCaptures() []string {
	var failures []string
	for _, rc := range r.capOrder {
		if err := rc.c.Stop(); err != nil && !rc.stopped {
			failures = append(failures, err.Error())
		}
	}
	return failures
}

// keepCaptures keeps the capture files when the run failed or has an
// artifacts folder, and removes them otherwise.
func (r *Run) keepCaptures() {
	if r.capDir == "" {
		return
	}
	if !r.Failed() && r.capTmp {
		os.RemoveAll(r.capDir)
		return
	}
	if r.capTmp {
		owner.Release(r.capDir) // kept for the user: no longer scratch
	}
	for _, rc := range r.capOrder {
		r.kept = append(r.kept, KeptCapture{Name: rc.name, On: rc.on, Path: rc.c.Path(), Frames: rc.c.Count()})
	}
}

// fileName makes a capture's name a file name: "h2:eth0" -> "h2-eth0".
func fileName(name string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '@':
			return c
		}
		return '-'
	}, name)
}
