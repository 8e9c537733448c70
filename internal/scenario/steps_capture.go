package scenario

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/nettest"
)

// The capture, capture-stop, saw-packet and no-packet steps.

// CaptureStep starts a packet capture. In the file it is node:iface, or a
// mapping.
type CaptureStep struct {
	At    `json:"-"`
	Iface Text `json:"iface,required" doc:"The interface, node:iface: a link's end (r1:eth1), lo, a LAN switch's br0 (office:br0)."`
	Name  Text `json:"name,omitempty" doc:"Names the capture for capture-stop, saw-packet and no-packet, and its file. Default: the iface value."`
}

// PacketStep is a saw-packet or no-packet check. Every key given must
// match; only capture given matches every frame.
type PacketStep struct {
	At        `json:"-"`
	Capture   Text `json:"capture,required" doc:"The capture's name (its node:iface unless it was named)."`
	Proto     Text `json:"proto,omitempty" doc:"tcp, udp, icmp, icmpv6 or arp." enum:"tcp,udp,icmp,icmpv6,arp"`
	Src       Text `json:"src,omitempty" doc:"IP source address: a prefix or an address (with proto arp: the sender's)."`
	Dst       Text `json:"dst,omitempty" doc:"IP destination address: a prefix or an address (with proto arp: the target's)."`
	SrcPort   int  `json:"sport,omitempty" doc:"TCP or UDP source port." min:"1" max:"65535"`
	DstPort   int  `json:"dport,omitempty" doc:"TCP or UDP destination port." min:"1" max:"65535"`
	ICMPType  Text `json:"icmp-type,omitempty" doc:"ICMP or ICMPv6 message type: echo-request, echo-reply, nd-neighbor-solicit ..."`
	Direction Text `json:"direction,omitempty" doc:"in (frames the node received on the interface) or out (frames it sent); default: both." enum:"in,out"`
	Family    Text `json:"family,omitempty" doc:"ipv4 or ipv6: consider only that family's frames (no ARP, no neighbour discovery)." enum:"ipv4,ipv6"`

	no    bool             // no-packet
	match assertions.Match // the keys, checked
}

// A capture is node:iface, or a mapping with its name.
func (c *CaptureStep) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.shortForm(n, path, c, &c.At, yaml.ScalarNode, "iface", func() { c.Iface.unmarshalYAML(d, n, path) })
}

func (CaptureStep) jsonSchema(g *schemaGen) map[string]any {
	return shortFormSchema[CaptureStep](g, map[string]any{"type": "string", "description": "The interface, node:iface."})
}

// captureStopStep stops a capture, by its name.
type captureStopStep struct{ ref Text }

func (c *CaptureStep) value() any { return c }

func (c *CaptureStep) check(s *Scenario, l *errList) string {
	s.iface(l, c.Iface, true)
	name := cmp.Or(c.Name.V, c.Iface.V)
	if prev, dup := s.caps[name]; dup {
		l.add(cmp.Or(c.Name.Pos, c.Iface.Pos), "capture %s: a capture of that name started at line %d: give this one another name", name, prev.pos.Line)
	} else {
		s.caps[name] = &capState{pos: cmp.Or(c.Name.Pos, c.Iface.Pos)}
	}
	if name != c.Iface.V {
		return "capture " + c.Iface.V + " as " + name
	}
	return "capture " + name
}

func (c *CaptureStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	return nil, failure(r.startCapture(c))
}

func (c *captureStopStep) value() any { return &c.ref }

func (c *captureStopStep) check(s *Scenario, l *errList) string {
	ref := c.ref
	switch c := s.caps[ref.V]; {
	case c == nil:
		l.add(ref.Pos, "unknown capture %q: a capture step before this one starts it (captures: %s)", ref.V, s.captureNames())
	case c.stopped:
		l.add(ref.Pos, "capture %s is stopped already", ref.V)
	default:
		c.stopped = true
	}
	return "capture stop " + ref.V
}

func (c *captureStopStep) run(ctx context.Context, r *Run, _ timing) ([]string, string) {
	if rc := r.captures[c.ref.V]; rc != nil {
		rc.stopped = true
		return nil, failure(rc.c.Stop())
	}
	return nil, fmt.Sprintf("capture %s: not started", c.ref.V)
}

func (p *PacketStep) value() any { return p }

func (p *PacketStep) check(s *Scenario, l *errList) string {
	verb := "saw packet "
	if p.no {
		verb = "no packet "
	}
	if _, ok := s.caps[p.Capture.V]; !ok && p.Capture.V != "" {
		l.add(p.Capture.Pos, "unknown capture %q: a capture step before this one starts it (captures: %s)", p.Capture.V, s.captureNames())
	}
	p.match = packetMatch(l, p)
	name := verb + p.Capture.V + ": " + p.match.String()
	if p.Family.V != "" {
		name += " (" + p.Family.V + ")"
	}
	return name
}

func (p *PacketStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	rc := r.captures[p.Capture.V]
	if rc == nil {
		return nil, "capture " + p.Capture.V + ": not started (its capture step failed)"
	}
	rec := &recorder{}
	opts := asOptions[assertions.PacketOption](append(t.options(ctx), familyOptions(p.Family)...))
	if p.no {
		assertions.NoPacket(rec, rc.c, p.match, opts...)
	} else {
		assertions.SawPacket(rec, rc.c, p.match, opts...)
	}
	return nil, rec.String()
}

// packetMatch converts a saw-packet or no-packet check's keys.
func packetMatch(l *errList, p *PacketStep) assertions.Match {
	checkEnum(l, p.Proto, "proto", "tcp", "udp", "icmp", "icmpv6", "arp")
	checkEnum(l, p.Direction, "direction", "in", "out")
	checkEnum(l, p.Family, "family", "ipv4", "ipv6")
	m := assertions.Match{Src: parseNet(l, p.Src, "src"), Dst: parseNet(l, p.Dst, "dst"), ICMP: p.ICMPType.V, Direction: p.Direction.V}
	if slices.Contains([]string{"tcp", "udp", "icmp", "icmpv6", "arp"}, p.Proto.V) {
		m.Proto = p.Proto.V
	}
	for _, port := range []struct {
		key string
		v   int
		dst *int
	}{{"sport", p.SrcPort, &m.SrcPort}, {"dport", p.DstPort, &m.DstPort}} {
		switch {
		case !checkPort(l, port.v, port.key, p.At):
		case port.v != 0 && m.Proto != "" && m.Proto != "tcp" && m.Proto != "udp":
			l.add(p.At.Of(port.key), "%s %d: ports need proto tcp, udp or none (it is %s)", port.key, port.v, m.Proto)
		default:
			*port.dst = port.v
		}
	}
	if t := p.ICMPType; t.V != "" {
		_, err4 := nettest.ICMPTypeNumber(nettest.IPv4, t.V)
		_, err6 := nettest.ICMPTypeNumber(nettest.IPv6, t.V)
		switch {
		case m.Proto != "" && m.Proto != "icmp" && m.Proto != "icmpv6":
			l.add(t.Pos, "icmp-type %q: needs proto icmp, icmpv6 or none (it is %s)", t.V, m.Proto)
		case m.Proto == "icmp" && err4 != nil:
			l.add(t.Pos, "icmp-type: %v", err4)
		case m.Proto == "icmpv6" && err6 != nil:
			l.add(t.Pos, "icmp-type: %v", err6)
		case err4 != nil && err6 != nil:
			l.add(t.Pos, "icmp-type %q: no ICMP or ICMPv6 type of that name (%v)", t.V, err4)
		}
	}
	return m
}

// capState is a capture as the steps see it, in file order.
type capState struct {
	pos     Pos
	stopped bool
}

func (s *Scenario) captureNames() string {
	if len(s.caps) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(s.caps)), ", ")
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

// startCapture starts a capture into the run's capture folder.
func (r *Run) startCapture(c *CaptureStep) error {
	name := cmp.Or(c.Name.V, c.Iface.V)
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
