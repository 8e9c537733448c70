package scenario

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// processes expands processes into instances and checks them.
func (s *Scenario) processes(l *errList, t *Topology) {
	names := map[string]Pos{}
	s.procRef = map[string]bool{}
	for i := range t.Processes {
		p := &t.Processes[i]
		if prev, dup := names[p.Name.V]; dup {
			l.add(p.Name.Pos, "process %s: duplicate name (first at line %d)", p.Name.V, prev.Line)
			continue
		}
		names[p.Name.V] = p.Name.Pos
		if strings.ContainsAny(p.Name.V, "@/ ") || p.Name.V == "" {
			l.add(p.Name.Pos, "process %q: a name has no '@', '/' or space", p.Name.V)
		}
		var nodes []Text
		switch {
		case p.Node.V != "" && len(p.Nodes) > 0:
			l.add(p.At.Of("nodes"), "process %s: give node or nodes, not both", p.Name.V)
		case p.Node.V != "":
			nodes = []Text{p.Node}
		case len(p.Nodes) > 0:
			nodes = p.Nodes
		default:
			l.add(p.At.Pos, "process %s: missing key \"node\" (or \"nodes\")", p.Name.V)
		}
		switch {
		case p.Command == nil && p.Echo == nil:
			l.add(p.At.Pos, "process %s: missing key \"command\" (or \"echo\")", p.Name.V)
		case p.Command != nil && p.Echo != nil:
			l.add(p.At.Of("echo"), "process %s: give command or echo, not both", p.Name.V)
		}
		if e := p.Echo; e != nil {
			checkEnum(l, e.Proto, "proto", "tcp", "udp")
			if e.Port < 1 || e.Port > 65535 {
				l.add(e.At.Of("port"), "process %s: port %d: want 1 to 65535", p.Name.V, e.Port)
			}
			if p.Ready != nil {
				l.add(p.At.Of("ready"), "process %s: an echo server is ready when it starts: no ready key", p.Name.V)
			}
		}
		for name := range p.Files {
			if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
				l.add(p.At.Of("files"), "process %s: file name %q: want a plain name (no '/')", p.Name.V, name)
			}
		}
		if r := p.Ready; r != nil {
			if r.Log.V != "" {
				if _, err := regexp.Compile(r.Log.V); err != nil {
					l.add(r.Log.Pos, "process %s: ready log: %v", p.Name.V, err)
				}
			}
			if r.TCP.V != "" {
				if _, err := TCPAddr(r.TCP.V); err != nil {
					l.add(r.TCP.Pos, "process %s: ready tcp: %v", p.Name.V, err)
				}
			}
		}
		seen := map[string]bool{}
		for k, n := range nodes {
			if !s.checkNode(l, n, false) {
				continue
			}
			if seen[n.V] {
				l.add(n.Pos, "process %s: node %s twice", p.Name.V, n.V)
				continue
			}
			seen[n.V] = true
			inst := &Instance{Name: p.Name.V, Base: p.Name.V, Node: n.V, Index: k + 1, Spec: p}
			if len(p.Nodes) > 0 {
				inst.Name = p.Name.V + "@" + n.V
			}
			s.Processes = append(s.Processes, inst)
			for _, ref := range []string{inst.Base, inst.Name, inst.Base + "@" + inst.Node} {
				s.procRef[ref] = true
			}
		}
	}
}

// TCPAddr reads a ready tcp value: "8080" (127.0.0.1), "host:port".
func TCPAddr(s string) (string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 65535 {
			return "", fmt.Errorf("port %d: want 1 to 65535", n)
		}
		return "127.0.0.1:" + s, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q: want a port, address:port or [ipv6]:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q: want 1 to 65535", s, port)
	}
	return net.JoinHostPort(cmp.Or(host, "127.0.0.1"), port), nil
}

// checkNode reports a reference to a node that does not exist. With
// targets, addresses and prefixes are fine too, and "node:iface".
func (s *Scenario) checkNode(l *errList, t Text, targets bool) bool {
	ref := t.V
	if targets {
		if _, err := netip.ParseAddr(ref); err == nil {
			return true
		}
		if _, err := netip.ParsePrefix(ref); err == nil {
			return true
		}
	}
	name, iface := ref, ""
	if targets {
		name, iface, _ = strings.Cut(ref, ":")
	}
	if s.isNode[name] {
		if iface == "lo" && !s.hasLoopback[name] {
			l.add(t.Pos, "%s: node %s has no loopback address (give it one: loopback: auto, or auto: {loopbacks: true} for every router)", ref, name)
			return false
		}
		return true
	}
	if ref == "" {
		return false // reported as missing
	}
	l.add(t.Pos, "unknown node %q (nodes: %s)", name, listNames(s.nodes))
	return false
}

// checkEnum reports a value that is none of those allowed; "" is fine.
func checkEnum(l *errList, t Text, key string, allowed ...string) bool {
	if t.V != "" && !slices.Contains(allowed, t.V) {
		l.add(t.Pos, "%s %q: want %s", key, t.V, orList(allowed))
		return false
	}
	return true
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// steps checks the steps and names them.
func (s *Scenario) steps(l *errList) {
	for i := range s.Spec.Steps {
		st := &s.Spec.Steps[i]
		plan := &StepPlan{Num: i + 1, Spec: st}
		actions := st.actions()
		switch len(actions) {
		case 0:
			if k, p, ok := nullKey(st.At); ok {
				l.add(p, "step %d: %s: want a value, got nothing", i+1, k)
				continue
			}
			l.add(st.At.Pos, "step %d: nothing to do: give one of %s", i+1, strings.Join(stepKeys, ", "))
			continue
		case 1:
		default:
			l.add(st.At.Pos, "step %d: %s: one action per step (make them separate steps)", i+1, strings.Join(actions, " and "))
			continue
		}
		act := st.acts[0]
		plan.Name = cmp.Or(st.Name, act.act.check(s, l))
		plan.Action = act.role == changes
		s.Steps = append(s.Steps, plan)
	}
}

// nullKey finds an action key written without a value ("- heal:").
func nullKey(at At) (string, Pos, bool) {
	for _, k := range stepKeys {
		if p, ok := at.val(k); ok {
			return k, p, true
		}
	}
	return "", Pos{}, false
}

// checkLink reports a link reference that names no link: a link's name, or
// node:iface of one of its ends (of a link, or of a LAN attachment). It
// returns the link's name (the LAN's, for an attachment).
func (s *Scenario) checkLink(l *errList, t Text) string {
	if _, ok := s.idx.links[t.V]; ok {
		return t.V
	}
	node, iface, ok := strings.Cut(t.V, ":")
	if ok && iface != "" && s.isNode[node] {
		if !s.nodeIface(l, t.Pos, node, iface) {
			return ""
		}
		seg, _ := s.ifaces[node].seg(iface)
		if seg == "" {
			l.add(t.Pos, "%s is no link's end", t.V)
		}
		return seg
	}
	l.add(t.Pos, "unknown link %q (links: %s; or name an end as node:iface)", t.V, listNames(s.idx.linkNames))
	return ""
}

// Instances returns the process instances a start or stop step names:
// every instance of a process, or one (NAME@NODE).
func (s *Scenario) Instances(ref string) []*Instance {
	var out []*Instance
	for _, in := range s.Processes {
		if in.Base == ref || in.Name == ref || in.Base+"@"+in.Node == ref {
			out = append(out, in)
		}
	}
	return out
}

func (s *Scenario) instanceNames() []string {
	var names []string
	for _, in := range s.Processes {
		names = append(names, in.Name)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}
