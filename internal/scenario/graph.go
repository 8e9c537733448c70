package scenario

import (
	"fmt"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// Graph draws the scenario's topology as a Mermaid flowchart ("mermaid",
// which GitHub renders in Markdown) or a Graphviz graph ("dot"): hosts as
// boxes, routers as rounded boxes, LAN switches as circles, links labelled
// with their ends' interfaces and addresses as the file gives them.
func Graph(s *Scenario, format string) (string, error) {
	t := s.Topology
	var b strings.Builder
	endLabel := func(e nettest.Endpoint) string {
		parts := []string{}
		if e.Iface != "" {
			parts = append(parts, e.Iface)
		}
		for _, a := range e.Addrs {
			parts = append(parts, a.String())
		}
		return strings.Join(parts, " ")
	}
	linkLabel := func(a, c nettest.Endpoint) string {
		la, lc := endLabel(a), endLabel(c)
		if la == "" && lc == "" {
			return ""
		}
		return la + " — " + lc
	}
	switch format {
	case "mermaid":
		id := func(name string) string { return "n_" + strings.ReplaceAll(name, "-", "_") }
		fmt.Fprintf(&b, "---\ntitle: %s\n---\ngraph LR\n", s.Name)
		for _, n := range t.Nodes {
			if n.Kind == nettest.Router {
				fmt.Fprintf(&b, "  %s([\"%s (router)\"])\n", id(n.Name), n.Name)
			} else {
				fmt.Fprintf(&b, "  %s[\"%s\"]\n", id(n.Name), n.Name)
			}
		}
		for _, l := range t.LANs {
			fmt.Fprintf(&b, "  %s((\"%s (LAN)\"))\n", id(l.Name), l.Name)
		}
		for _, l := range t.Links {
			if label := linkLabel(l.A, l.B); label != "" {
				fmt.Fprintf(&b, "  %s ---|\"%s\"| %s\n", id(l.A.Node), label, id(l.B.Node))
			} else {
				fmt.Fprintf(&b, "  %s --- %s\n", id(l.A.Node), id(l.B.Node))
			}
		}
		for _, l := range t.LANs {
			for _, m := range l.Members {
				if label := endLabel(m); label != "" {
					fmt.Fprintf(&b, "  %s ---|\"%s\"| %s\n", id(m.Node), label, id(l.Name))
				} else {
					fmt.Fprintf(&b, "  %s --- %s\n", id(m.Node), id(l.Name))
				}
			}
		}
	case "dot":
		q := func(s string) string { return fmt.Sprintf("%q", s) }
		fmt.Fprintf(&b, "graph %s {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n", q(s.Name))
		for _, n := range t.Nodes {
			shape := "box"
			if n.Kind == nettest.Router {
				shape = "box, style=rounded"
			}
			fmt.Fprintf(&b, "  %s [shape=%s, label=%s];\n", q(n.Name), shape, q(n.Name+"\n"+n.Kind.String()))
		}
		for _, l := range t.LANs {
			fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", q(l.Name), q(l.Name+"\nLAN"))
		}
		for _, l := range t.Links {
			fmt.Fprintf(&b, "  %s -- %s [taillabel=%s, headlabel=%s];\n", q(l.A.Node), q(l.B.Node), q(endLabel(l.A)), q(endLabel(l.B)))
		}
		for _, l := range t.LANs {
			for _, m := range l.Members {
				fmt.Fprintf(&b, "  %s -- %s [taillabel=%s];\n", q(m.Node), q(l.Name), q(endLabel(m)))
			}
		}
		b.WriteString("}\n")
	default:
		return "", fmt.Errorf("graph: format %q: want mermaid or dot", format)
	}
	return b.String(), nil
}
