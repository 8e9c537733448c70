package scenario

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// Graph draws the scenario's topology as a Mermaid flowchart ("mermaid",
// which GitHub renders in Markdown) or a Graphviz graph ("dot"): hosts as
// boxes, routers as rounded boxes, LAN switches as circles, links labelled
// with their ends' interfaces and addresses as the file gives them.
func Graph(s *Scenario, format string) (string, error) {
	t := s.Topology
	d := drawing{name: s.Name, topo: t}
	for _, l := range t.Links {
		d.edges = append(d.edges, edge{a: l.A.Node, b: l.B.Node, aLabel: endLabel(l.A.Iface, l.A.Addrs), bLabel: endLabel(l.B.Iface, l.B.Addrs)})
	}
	for _, l := range t.LANs {
		for _, m := range l.Members {
			d.edges = append(d.edges, edge{a: m.Node, b: l.Name, aLabel: endLabel(m.Iface, m.Addrs), lan: true})
		}
	}
	return d.draw(format)
}

// LiveLink is what a graph of a running topology shows of a link beyond
// its ends: whether it is down, and how it is impaired.
type LiveLink struct {
	Down bool
	// Impairment describes it ("delay 20ms"), "" when it has none.
	Impairment string
}

// GraphLive draws a running topology (a lab) as Graph does, with what the
// file leaves out: every interface's name and addresses, automatic ones
// included, as nettest resolves them, and each link's state from links
// (keyed by link name): a link that is down is drawn dashed and labelled
// "down", an impaired one says how.
func GraphLive(name string, t nettest.Topology, links map[string]LiveLink, format string) (string, error) {
	r, err := t.Resolve()
	if err != nil {
		return "", fmt.Errorf("graph: %w", err)
	}
	ifaces := map[string]nettest.ResolvedInterface{}
	for _, n := range r.Nodes {
		for _, in := range n.Interfaces {
			ifaces[in.String()] = in
		}
	}
	label := func(ref string) string {
		in := ifaces[ref]
		return endLabel(in.Name, in.Addrs)
	}
	d := drawing{name: name, topo: t}
	for _, l := range r.Links {
		a, _, _ := strings.Cut(l.A, ":")
		b, _, _ := strings.Cut(l.B, ":")
		live := links[l.Name]
		e := edge{a: a, b: b, aLabel: label(l.A), bLabel: label(l.B), down: live.Down, note: live.Impairment}
		if live.Down {
			e.note = strings.TrimSpace("down " + e.note)
		}
		d.edges = append(d.edges, e)
	}
	for _, lan := range r.LANs {
		for _, m := range lan.Members {
			node, _, _ := strings.Cut(m, ":")
			d.edges = append(d.edges, edge{a: node, b: lan.Name, aLabel: label(m), lan: true})
		}
	}
	return d.draw(format)
}

// endLabel labels one end of a link: its interface and addresses.
func endLabel(iface string, addrs []netip.Prefix) string {
	parts := []string{}
	if iface != "" {
		parts = append(parts, iface)
	}
	for _, a := range addrs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

// drawing is a topology to draw: its nodes and LANs, and the lines
// between them.
type drawing struct {
	name  string
	topo  nettest.Topology
	edges []edge
}

// edge is a line: a link (a to b), or a LAN member's (a to the LAN b).
type edge struct {
	a, b           string
	aLabel, bLabel string
	lan            bool
	down           bool   // drawn dashed
	note           string // the link's state: "down", "delay 20ms"
}

func (d drawing) draw(format string) (string, error) {
	var b strings.Builder
	switch format {
	case "mermaid":
		id := func(name string) string { return "n_" + strings.ReplaceAll(name, "-", "_") }
		fmt.Fprintf(&b, "---\ntitle: %s\n---\ngraph LR\n", d.name)
		for _, n := range d.topo.Nodes {
			if n.Kind == nettest.Router {
				fmt.Fprintf(&b, "  %s([\"%s (router)\"])\n", id(n.Name), n.Name)
			} else {
				fmt.Fprintf(&b, "  %s[\"%s\"]\n", id(n.Name), n.Name)
			}
		}
		for _, l := range d.topo.LANs {
			fmt.Fprintf(&b, "  %s((\"%s (LAN)\"))\n", id(l.Name), l.Name)
		}
		for _, e := range d.edges {
			label := e.aLabel
			if !e.lan && (e.aLabel != "" || e.bLabel != "") {
				label = e.aLabel + " — " + e.bLabel
			}
			if e.note != "" {
				label = strings.TrimSpace(label + " [" + e.note + "]")
			}
			line := "---"
			if e.down {
				line = "-.-"
			}
			if label != "" {
				fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", id(e.a), line, label, id(e.b))
			} else {
				fmt.Fprintf(&b, "  %s %s %s\n", id(e.a), line, id(e.b))
			}
		}
	case "dot":
		q := func(s string) string { return fmt.Sprintf("%q", s) }
		fmt.Fprintf(&b, "graph %s {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n", q(d.name))
		for _, n := range d.topo.Nodes {
			shape := "box"
			if n.Kind == nettest.Router {
				shape = "box, style=rounded"
			}
			fmt.Fprintf(&b, "  %s [shape=%s, label=%s];\n", q(n.Name), shape, q(n.Name+"\n"+n.Kind.String()))
		}
		for _, l := range d.topo.LANs {
			fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", q(l.Name), q(l.Name+"\nLAN"))
		}
		for _, e := range d.edges {
			attrs := "taillabel=" + q(e.aLabel)
			if !e.lan {
				attrs += ", headlabel=" + q(e.bLabel)
			}
			if e.note != "" {
				attrs += ", label=" + q(e.note)
			}
			if e.down {
				attrs += ", style=dashed"
			}
			fmt.Fprintf(&b, "  %s -- %s [%s];\n", q(e.a), q(e.b), attrs)
		}
		b.WriteString("}\n")
	default:
		return "", fmt.Errorf("graph: format %q: want mermaid or dot", format)
	}
	return b.String(), nil
}
