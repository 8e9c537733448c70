package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/nettest"
)

// Scenario is a parsed and validated scenario file, ready to run.
type Scenario struct {
	// File is the path it was read from.
	File string
	// Name names the scenario and its topology.
	Name string
	// Spec is the file as decoded.
	Spec *File
	// Topology is what nettest builds.
	Topology nettest.Topology
	// Processes are the process instances, one per node of each process.
	Processes []*Instance
	// Steps are the steps in order.
	Steps []*StepPlan

	idx         *posIndex
	nodes       []string               // node names, each once, in file order
	isNode      map[string]bool        // the same, as a set
	procRef     map[string]bool        // what a start or stop step may name
	ifaces      map[string]*nodeIfaces // by node (and LAN switch)
	hasLoopback map[string]bool        // nodes with loopback addresses
	setup       []*nodeOp              // the topology's firewall and NAT
	daemonPlans []daemonPlan           // the topology's daemons
	parts       []string               // partitions in place, while checking steps
	caps        map[string]*capState   // captures, while checking steps
	mapKeys     map[string]keyAt       // where the keys of mappings with any keys are
	sysctls     []sysctlAt             // each node's sysctls, where they are written
	topoErr     error                  // the engine's problems with the topology
	requires    []Requirement          // the requires: key
}

// Instance is one process running in one node.
type Instance struct {
	Name  string // "bird@r1", or "web" for a process of one node
	Base  string // "bird"
	Node  string
	Index int // 1-based position in the process's nodes
	Spec  *Process
}

// StepPlan is one step with its number and name.
type StepPlan struct {
	Num  int    // from 1
	Name string // "ping red -> blue"
	Spec *Step
	// Action is set for steps that change the topology's state (link
	// down/up, start/stop, impairments, firewalls, captures ...): they run
	// even when -run does not select them.
	Action bool
}

// FullName returns the step's name as a test: "seed/03 ping red -> blue".
func (s *Scenario) FullName(st *StepPlan) string {
	return fmt.Sprintf("%s/%02d %s", s.Name, st.Num, st.Name)
}

// DefaultMaxSize is the largest scenario file ParseFile reads: parsing
// takes memory some tens of times the file's size, and a scenario is
// rarely more than some kilobytes. ParseFileMax reads larger ones.
const DefaultMaxSize = 8 << 20

// ParseFile reads and parses a scenario file of at most DefaultMaxSize
// bytes; set overrides parameters.
func ParseFile(path string, set map[string]string) (*Scenario, error) {
	return ParseFileMax(path, set, DefaultMaxSize)
}

// ParseFileMax is ParseFile for files of at most maxSize bytes (0 or less:
// DefaultMaxSize). A larger file is refused before it is read, with an
// error that names its size and the --max-size flag that raises the limit.
func ParseFileMax(path string, set map[string]string, maxSize int64) (*Scenario, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	data, err := readMax(path, maxSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return parse(path, data, set, maxSize)
}

// readMax reads a file of at most max bytes. A regular file's size is
// known before reading; a pipe is read up to one byte more than max.
func readMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooBig := func(size string, need int64) error {
		return fmt.Errorf("%s, more than the %s a scenario file may be: raise the limit with --max-size (--max-size %dMiB)", size, FormatSize(max), roundUpMiB(need)/miB)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > max {
		return nil, tooBig(fmt.Sprintf("the file is %s (%s bytes)", FormatSize(fi.Size()), thousands(int(fi.Size()))), fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooBig("the input goes on", 2*max)
	}
	return data, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses a scenario file's content. Every problem found is returned
// at once, as Errors: one "file:line:col: message" each. It needs no
// privilege and creates nothing.
func Parse(file string, data []byte, set map[string]string) (*Scenario, error) {
	return parse(file, data, set, DefaultMaxSize)
}

// parse is Parse with the size limit the file was read under.
func parse(file string, data []byte, set map[string]string, maxSize int64) (*Scenario, error) {
	l := &errList{file: file}
	root, ok := readYAML(l, data)
	if !ok {
		return nil, l.err()
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		l.add(Pos{1, 1}, "the file is empty: want a scenario (name, topology, steps)")
		return nil, l.err()
	}
	doc := root.Content[0]
	d := &decoder{errList: errList{file: file}, params: map[string]string{}, used: map[string]bool{}}
	d.budget = nodeBudget(maxSize)

	// Parameters first: the rest of the file refers to them.
	var params Params
	if doc.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == "params" {
				params.unmarshalYAML(d, d.resolve(doc.Content[i+1]), "params")
			}
		}
	}
	if !d.aborted {
		d.errs = nil // reported again by the full decode below
	}
	for _, p := range params {
		d.params[p.Name.V] = p.Default
	}
	var setErrs []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if _, ok := d.params[k]; !ok {
			setErrs = append(setErrs, fmt.Sprintf("--set %s=%s: the file declares no parameter %s (declared: %s)", k, set[k], k, d.paramList()))
			continue
		}
		d.params[k] = set[k]
	}
	var f File
	d.release = !hasAlias(doc)
	d.decode(doc, reflect.ValueOf(&f).Elem(), "")
	for _, msg := range setErrs {
		l.add(Pos{}, "%s", msg)
	}
	l.errs = append(l.errs, d.errs...)
	if d.aborted {
		return nil, l.err()
	}
	s := &Scenario{File: file, Spec: &f, idx: newPosIndex(), caps: map[string]*capState{}, mapKeys: d.mapKeys}
	s.check(l)
	if err := l.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// check fills in the scenario from its spec and reports what is wrong.
func (s *Scenario) check(l *errList) {
	f := s.Spec
	s.Name = cmp.Or(f.Name.V, nameFromFile(s.File))
	s.idx.top = f.At.Of("name")
	s.checkRequires(l)
	topo := s.topology(l)
	s.checkSysctls(l, hostSysctl)
	s.netTopology(l)
	s.daemons(l)
	s.processes(l, topo)
	s.steps(l)
	// The engine's checks: names, addresses, subnets, routes, MTUs, each
	// placed by the element its ConfigError names.
	decodeErrs := len(l.errs) > 0
	for _, e := range unwrapAll(s.topoErr) {
		var ce *nettest.ConfigError
		if e == nil {
			break
		}
		if !errors.As(e, &ce) {
			l.add(s.idx.top, "%v", e)
			continue
		}
		if decodeErrs && (ce.Field == "Name" && ce.Value == "" || ce.Field == "Nodes") {
			continue // a value the decoder could not read, reported already
		}
		if sp, ok := nth(s.idx.linkSegs, ce.LinkIndex); ok {
			if p, msg, ok := impairMessage(ce, sp.impair, sp.via); ok {
				l.add(p, "link %s: %s", ce.Link, msg)
				continue
			}
		}
		// The engine's hint names Go fields; a file has no keys for
		// what they set (the automatic pools): its own words instead.
		yaml := *ce
		if yaml.Hint != "" {
			yaml.Hint = "give addresses yourself"
		}
		msg := yaml.Error()
		if ce.Where == "topology" {
			msg = yaml.Problem
		}
		l.add(s.idx.lookup(ce), "%s", msg)
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

// nameFromFile makes a topology name from a file's name: "seed.yaml" -> "seed".
func nameFromFile(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var b strings.Builder
	for _, c := range base {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	name := strings.TrimRight(b.String(), "-_")
	if len(name) > 32 {
		name = strings.TrimRight(name[:32], "-_")
	}
	return cmp.Or(name, "scenario")
}

// topology converts the topology section.
func (s *Scenario) topology(l *errList) *Topology {
	t := &s.Spec.Topology
	topo := nettest.Topology{Name: s.Name, Auto: autoConfig(t.Auto), Links: make([]nettest.LinkConfig, 0, len(t.Links))}
	nodeIdx := map[string]int{}
	s.isNode = map[string]bool{}
	for i, n := range t.Nodes {
		if !s.isNode[n.Name.V] {
			s.isNode[n.Name.V] = true
			s.nodes = append(s.nodes, n.Name.V)
		}
		kind := nettest.Host
		switch n.Kind.V {
		case "", "host":
		case "router":
			kind = nettest.Router
		default:
			l.add(n.Kind.Pos, "node %s: kind %q: want host or router", n.Name.V, n.Kind.V)
		}
		nc := nettest.NodeConfig{Name: n.Name.V, Kind: kind, Sysctls: n.Sysctls}
		var loAt []Text
		if lo := n.Loopback; lo != nil {
			nc.AutoLoopback = lo.Auto
			if !lo.Auto && len(lo.Addrs) == 0 {
				l.add(lo.Pos, "node %s: loopback: want auto or addresses", n.Name.V)
			}
			for _, a := range lo.Addrs {
				if a.V == "auto" {
					l.add(a.Pos, "node %s: loopback: auto stands alone: give addresses or auto, not both", n.Name.V)
					continue
				}
				addr, err := nettest.ParseLoopback(a.V)
				if err != nil {
					l.add(a.Pos, "node %s: %v", n.Name.V, err)
					continue
				}
				nc.Loopback = append(nc.Loopback, addr)
				loAt = append(loAt, a)
			}
		}
		topo.Nodes = append(topo.Nodes, nc)
		s.idx.nodeIdx = append(s.idx.nodeIdx, cmp.Or(n.Name.Pos, n.At.Pos))
		s.idx.nodeSysctls = append(s.idx.nodeSysctls, n.At.Of("sysctls"))
		s.idx.nodeLoopback = append(s.idx.nodeLoopback, loopbackAt{n.At.Of("loopback"), loAt})
		s.idx.routes = append(s.idx.routes, nil)
		s.idx.rules = append(s.idx.rules, nil)
		if _, dup := nodeIdx[n.Name.V]; !dup {
			nodeIdx[n.Name.V] = i
		}
	}
	for _, lk := range t.Links {
		lc := nettest.LinkConfig{Name: lk.Name.V, MTU: lk.MTU}
		if len(lk.Endpoints) != 2 {
			l.add(lk.At.Of("endpoints"), "link: want 2 endpoints, got %d", len(lk.Endpoints))
			continue
		}
		lc.A, _ = parseEndpoint(l, lk.Endpoints[0])
		lc.B, _ = parseEndpoint(l, lk.Endpoints[1])
		sp := &segPos{pos: lk.At.Pos, mtu: lk.At.Of("mtu"), ends: lk.Endpoints, via: lk.At.Of("impair-via")}
		if lk.Impair != nil {
			lc.Impair, sp.impair = impairments(l, lk.Impair.Directions, lk.Impair.At, "impair")
		}
		if checkEnum(l, lk.ImpairVia, "impair-via", mechanisms...) {
			lc.ImpairVia = nettest.Mechanism(lk.ImpairVia.V)
		}
		s.idx.linkSegs = append(s.idx.linkSegs, sp)
		topo.Links = append(topo.Links, lc)
	}
	for _, lan := range t.LANs {
		lc := nettest.LANConfig{Name: lan.Name.V, MTU: lan.MTU}
		sp := &segPos{pos: lan.Name.Pos, mtu: lan.At.Of("mtu"), ends: lan.Members}
		for _, m := range lan.Members {
			ep, _ := parseEndpoint(l, m)
			lc.Members = append(lc.Members, ep)
		}
		s.idx.lanSegs = append(s.idx.lanSegs, sp)
		topo.LANs = append(topo.LANs, lc)
	}
	for _, nr := range t.Routes {
		i, ok := nodeIdx[nr.Node.V]
		if !ok {
			l.add(nr.Node.Pos, "routes: unknown node %q (nodes: %s)", nr.Node.V, listNames(s.nodes))
			continue
		}
		for _, rt := range nr.Routes {
			r, err := nettest.ParseRoute(rt.V)
			if err != nil {
				l.add(rt.Pos, "node %s: %v", nr.Node.V, err)
				continue
			}
			topo.Nodes[i].Routes = append(topo.Nodes[i].Routes, r)
			s.idx.routes[i] = append(s.idx.routes[i], rt.Pos)
		}
	}
	for _, nr := range t.Rules {
		i, ok := nodeIdx[nr.Node.V]
		if !ok {
			l.add(nr.Node.Pos, "rules: unknown node %q (nodes: %s)", nr.Node.V, listNames(s.nodes))
			continue
		}
		for _, rt := range nr.Routes {
			r, err := nettest.ParsePolicyRule(rt.V)
			if err != nil {
				l.add(rt.Pos, "node %s: %v", nr.Node.V, err)
				continue
			}
			topo.Nodes[i].Rules = append(topo.Nodes[i].Rules, r)
			s.idx.rules[i] = append(s.idx.rules[i], rt.Pos)
		}
	}
	s.Topology = topo
	// The engine's resolution names the links and interfaces, the
	// topology valid or not; its problems are reported by check.
	var res nettest.Resolved
	res, s.topoErr = topo.Resolve()
	s.idx.links = make(map[string]int, len(res.Links))
	s.idx.linkNames = make([]string, len(res.Links))
	for i, rl := range res.Links {
		s.idx.links[rl.Name] = i // the last of a name given twice
		s.idx.linkNames[i] = rl.Name
	}
	s.nameIfaces(res)
	return t
}

// linkVia is the impair-via of the link of that name (the engine's name,
// given or generated), or "" for none.
func (s *Scenario) linkVia(name string) nettest.Mechanism {
	if i, ok := s.idx.links[name]; ok {
		return s.Topology.Links[i].ImpairVia
	}
	return ""
}

// autoConfig is the auto key's: IPv4 and IPv6 addresses on, routes and
// loopbacks off, unless the file says otherwise.
func autoConfig(a *AutoSpec) nettest.Auto {
	auto := nettest.Auto{IPv4: true, IPv6: true}
	if a != nil {
		for _, x := range []struct {
			p   *bool
			dst *bool
		}{{a.IPv4, &auto.IPv4}, {a.IPv6, &auto.IPv6}, {a.Routes, &auto.Routes}, {a.Loopbacks, &auto.Loopbacks}} {
			if x.p != nil {
				*x.dst = *x.p
			}
		}
	}
	return auto
}

// maxListed is how many names a message lists before it says how many
// more there are.
const maxListed = 10

// listNames joins names for a message ("a, b, c"), the first few of a
// long list only: "a, b, ... (20000 in all)".
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + ", ... (" + strconv.Itoa(len(names)) + " in all)"
}

// parseEndpoint reads "node[:iface] [addr ...]" (or "... auto").
func parseEndpoint(l *errList, t Text) (nettest.Endpoint, bool) {
	words := strings.Fields(t.V)
	if len(words) == 0 {
		l.add(t.Pos, "empty endpoint: want node, node:iface, optionally followed by addresses")
		return nettest.Endpoint{}, false
	}
	ep, err := nettest.ParseEndpoint(words[0])
	if err != nil {
		l.add(t.Pos, "%v", err)
		return nettest.Endpoint{}, false
	}
	ok := true
	off := strings.Index(t.V, words[0]) + len(words[0])
	for _, w := range words[1:] {
		at := off + strings.Index(t.V[off:], w)
		off = at + len(w)
		if w == "auto" {
			if len(words) > 2 {
				l.add(t.At(at), "endpoint %s: auto stands alone: give addresses or auto, not both", words[0])
				ok = false
			}
			continue
		}
		p, err := nettest.ParsePrefix(w)
		if err != nil {
			l.add(t.At(at), "endpoint %s: %v", words[0], err)
			ok = false
			continue
		}
		ep.Addrs = append(ep.Addrs, p)
	}
	return ep, ok
}
