package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/nettest"
)

// The impair, flap, partition, isolate and heal steps.

// ImpairStep replaces a link's impairments during a run.
type ImpairStep struct {
	At   `json:"-"`
	Link Text `json:"link,required" doc:"The link: its name (\"r1-r2\") or one of its ends (\"r1:eth1\"); a-b still means from its first endpoint in the topology to its second."`
	Directions
	None bool `json:"none,omitempty" doc:"true: no impairment either way."`

	imp nettest.Impairments // checked
}

// FlapStep takes a link down and up again, a number of times.
type FlapStep struct {
	At    `json:"-"`
	Link  Text     `json:"link,required" doc:"The link: its name or one of its ends."`
	Down  Duration `json:"down,required" doc:"How long it stays down each time: \"200ms\"."`
	Up    Duration `json:"up,required" doc:"How long it stays up after each time (waiting for it to be ready counts)."`
	Times int      `json:"times,omitempty" doc:"How many times. Default: 1." min:"1"`
}

// PartitionStep cuts nodes off from the rest. In the file it is a list of
// nodes or a mapping.
type PartitionStep struct {
	At    `json:"-"`
	Name  Text   `json:"name,omitempty" doc:"Names the partition, for heal."`
	Nodes []Text `json:"nodes,required" doc:"The nodes cut off from the others (not from each other)."`
}

// HealStep undoes partitions: every one (true) or one by name.
type HealStep struct {
	All  bool
	Name Text
}

// isolateStep cuts one node off from every other: a partition of one
// node, named after it.
type isolateStep struct {
	node Text
	p    PartitionStep
}

func (im *ImpairStep) value() any { return im }

func (im *ImpairStep) check(s *Scenario, l *errList) string {
	link := s.checkLink(l, im.Link)
	d := im.Directions
	switch {
	case im.None && (d.Both != nil || d.AB != nil || d.BA != nil):
		l.add(im.At.Of("none"), "impair: none: true takes no direction")
	case im.None:
		return "impair " + im.Link.V + ": none"
	case d.Both == nil && d.AB == nil && d.BA == nil:
		l.add(im.At.Pos, "impair: give both, a-b, b-a or none: true")
	}
	imp, dirs := impairments(l, d, im.At, "impair")
	checkImpairments(l, imp, s.linkVia(link), dirs, im.Link)
	im.imp = imp
	return "impair " + im.Link.V + ": " + impairDesc(imp)
}

func (im *ImpairStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	l, err := r.Network.Link(im.Link.V)
	if err == nil {
		err = l.Impair(im.imp)
	}
	if errors.Is(err, nettest.ErrUnsupported) {
		err = fmt.Errorf("%w (in the scenario: impair-via: userspace on the link)", err)
	}
	return nil, failure(err)
}

func (f *FlapStep) value() any { return f }

func (f *FlapStep) check(s *Scenario, l *errList) string {
	s.checkLink(l, f.Link)
	if f.Times < 0 {
		l.add(f.At.Of("times"), "times %d: want 1 or more", f.Times)
	}
	name := fmt.Sprintf("flap %s: down %s, up %s", f.Link.V, f.Down.D, f.Up.D)
	if f.Times > 1 {
		name += fmt.Sprintf(", %d times", f.Times)
	}
	return name
}

func (f *FlapStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	l, err := r.Network.Link(f.Link.V)
	if err != nil {
		return nil, err.Error()
	}
	return nil, failure(<-l.Flap(ctx, f.Down.D, f.Up.D, max(f.Times, 1)))
}

func (p *PartitionStep) value() any { return p }

func (p *PartitionStep) check(s *Scenario, l *errList) string {
	var names []string
	for _, n := range p.Nodes {
		s.checkNode(l, n, false)
		names = append(names, n.V)
	}
	if len(p.Nodes) == 0 {
		l.add(p.At.Of("nodes"), "partition: no nodes")
	}
	if slices.Contains(s.parts, p.Name.V) && p.Name.V != "" {
		l.add(p.Name.Pos, "partition %s is in place already (heal it first)", p.Name.V)
	}
	s.parts = append(s.parts, p.Name.V)
	name := "partition " + strings.Join(names, ", ")
	if p.Name.V != "" {
		name += " (" + p.Name.V + ")"
	}
	return name
}

func (p *PartitionStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	var nodes []string
	for _, n := range p.Nodes {
		nodes = append(nodes, n.V)
	}
	np, err := r.Network.Partition(nodes...)
	if err != nil {
		return nil, err.Error()
	}
	r.parts = append(r.parts, partition{p.Name.V, np})
	return nil, ""
}

func (is *isolateStep) value() any { return &is.node }

func (is *isolateStep) check(s *Scenario, l *errList) string {
	is.p = PartitionStep{At: At{Pos: is.node.Pos}, Name: is.node, Nodes: []Text{is.node}}
	is.p.check(s, l)
	return "isolate " + is.node.V
}

func (is *isolateStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	return is.p.run(ctx, r, t)
}

func (h *HealStep) value() any { return h }

func (h *HealStep) check(s *Scenario, l *errList) string {
	switch {
	case len(s.parts) == 0:
		l.add(h.Name.Pos, "heal: no partition is in place here (partition and isolate steps make them)")
	case h.All:
		s.parts = nil
		return "heal"
	case !slices.Contains(s.parts, h.Name.V):
		named := slices.DeleteFunc(slices.Clone(s.parts), func(p string) bool { return p == "" })
		l.add(h.Name.Pos, "heal %s: no partition of that name is in place here (named ones: %s; heal: true heals every one)", h.Name.V, cmp.Or(strings.Join(named, ", "), "none"))
	default:
		s.parts = slices.DeleteFunc(s.parts, func(p string) bool { return p == h.Name.V })
	}
	return "heal " + h.Name.V
}

func (h *HealStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	var errs []error
	healed := false
	for i := len(r.parts) - 1; i >= 0; i-- {
		if p := r.parts[i]; h.All || p.name == h.Name.V {
			errs = append(errs, p.p.Heal(ctx))
			r.parts = slices.Delete(r.parts, i, i+1)
			healed = true
		}
	}
	if !healed && !h.All {
		errs = append(errs, fmt.Errorf("heal %s: no partition of that name is in place (its step failed)", h.Name.V))
	}
	return nil, failure(errors.Join(errs...))
}

// partition is a partition in place, with its name ("" for none).
type partition struct {
	name string
	p    *nettest.Partition
}

// A partition is a list of nodes, or a mapping with its name.
func (p *PartitionStep) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.shortForm(n, path, p, &p.At, yaml.SequenceNode, "nodes", func() { d.decode(n, reflect.ValueOf(&p.Nodes).Elem(), path) })
}

func (PartitionStep) jsonSchema(g *schemaGen) map[string]any {
	return shortFormSchema[PartitionStep](g, map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 1, "description": "The nodes cut off."})
}

// heal is true, or a name.
func (h *HealStep) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	h.Name.unmarshalYAML(d, n, path)
	switch h.Name.V {
	case "true":
		h.All, h.Name.V = true, ""
	case "false", "":
		d.add(pos(n), "%swant true (every partition) or a partition's name, got %s", prefix(path), describe(n))
	}
}

func (HealStep) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"const": true, "description": "Heal every partition in place."},
		map[string]any{"type": "string", "minLength": 1, "description": "A partition's name, or the node of an isolate step."},
	}}
}
