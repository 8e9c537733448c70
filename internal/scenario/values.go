package scenario

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Values of the file with a form of their own: each decodes itself and
// describes itself in the JSON Schema.

// Text is a string with its position, for values that later checks refer
// to (node names, endpoints, addresses, routes).
type Text struct {
	V   string
	Pos Pos
	// plain: the scalar is written on one line as it is (no quotes, no
	// substitution), so a word at byte offset i is at column Pos.Col+i.
	plain bool
}

func (t *Text) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	t.Pos = pos(n)
	s, ok := d.scalar(n, path, "a string")
	if !ok {
		return
	}
	t.V = s
	t.plain = n.Style == 0 && s == n.Value && !strings.Contains(s, "\n")
}

// At returns the position of the byte at offset i of the value, where it
// can tell, else the value's position.
func (t Text) At(i int) Pos {
	if !t.plain {
		return t.Pos
	}
	return Pos{t.Pos.Line, t.Pos.Col + i}
}

func (Text) jsonSchema(*schemaGen) map[string]any { return map[string]any{"type": "string"} }

// Duration is a Go duration: "5s", "200ms", "1m30s".
type Duration struct {
	D   time.Duration
	Pos Pos
}

var durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

func (v *Duration) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	v.Pos = pos(n)
	s, ok := d.scalar(n, path, `a duration such as "5s"`)
	if !ok {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil || !regexp.MustCompile(durationPattern).MatchString(s) {
		d.add(pos(n), "%s%q is not a duration: write it as 5s, 200ms or 1m30s", prefix(path), s)
		return
	}
	if dur <= 0 {
		d.add(pos(n), "%swant a positive duration, got %q", prefix(path), s)
		return
	}
	v.D = dur
}

func (Duration) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"type": "string", "pattern": durationPattern, "examples": []any{"5s", "200ms"}}
}

// Command is a program to run: argv (a list), or a shell command (a string,
// run with sh -c).
type Command struct {
	Args  []string // argv; for a string, sh -c STRING
	Shell string   // the string, if given as one
	Pos   Pos
}

func (c *Command) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	c.Pos = pos(n)
	switch n.Kind {
	case yaml.SequenceNode:
		d.decode(n, reflect.ValueOf(&c.Args).Elem(), path)
		if len(n.Content) == 0 {
			d.add(pos(n), "%san empty command", prefix(path))
		}
	case yaml.ScalarNode:
		s, ok := d.scalar(n, path, "a command")
		if !ok {
			return
		}
		if strings.TrimSpace(s) == "" {
			d.add(pos(n), "%san empty command", prefix(path))
			return
		}
		c.Shell, c.Args = s, ShellArgs(s)
	default:
		d.add(pos(n), "%swant a command (a string for sh -c, or a list), got %s", prefix(path), describe(n))
	}
}

// ShellArgs returns the argv that runs a command string: its words, when
// it has no shell syntax ("ip addr"), which saves starting a shell; else
// sh -c STRING ("ping -c1 h2 && hostname", "echo $HOME").
func ShellArgs(s string) []string {
	words := strings.Fields(s)
	if strings.ContainsAny(s, "\"'`$\\|&;<>()*?[]{}~#!") || strings.Contains(words[0], "=") {
		return []string{"sh", "-c", s}
	}
	return words
}

// String returns the command as written.
func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Args, " ")
}

func (Command) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "minLength": 1, "description": "A command line: run with sh -c if it has shell syntax, else split into words."},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 1, "description": "argv: the program and its arguments."},
	}}
}

// StringList is a string or a list of strings.
type StringList []Text

func (l *StringList) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.SequenceNode {
		d.decode(n, reflect.ValueOf((*[]Text)(l)).Elem(), path)
		return
	}
	var t Text
	t.unmarshalYAML(d, n, path)
	*l = StringList{t}
}

func (StringList) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}}
}

// A node is written as its name (a host) or as a mapping.
func (s *NodeSpec) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.shortForm(n, path, s, &s.At, yaml.ScalarNode, "name", func() { s.Name.unmarshalYAML(d, n, path) })
}

func (NodeSpec) jsonSchema(g *schemaGen) map[string]any {
	return shortFormSchema[NodeSpec](g, map[string]any{"type": "string", "description": "A host of that name."})
}

// shortForm decodes a value that is a mapping into v (a pointer to a
// struct whose At is at), or a short form: a node of kind, decoded by
// short, that stands for the value of key.
func (d *decoder) shortForm(n *yaml.Node, path string, v any, at *At, kind yaml.Kind, key string, short func()) {
	if n.Kind != kind {
		d.decodeStruct(n, reflect.ValueOf(v).Elem(), path)
		return
	}
	*at = At{Pos: pos(n), vals: []keyPos{{key, pos(n)}}}
	short()
}

// shortFormSchema describes a mapping T, or its short form.
func shortFormSchema[T any](g *schemaGen, short map[string]any) map[string]any {
	return map[string]any{"oneOf": []any{short, g.structSchema(reflect.TypeFor[T]())}}
}

// In a process, ${NODE}, ${INDEX}, ${FILES} and ${NAME} are left for when
// it starts.
func (p *Process) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.inProcess = true
	defer func() { d.inProcess = false }()
	d.decodeStruct(n, reflect.ValueOf(p).Elem(), path)
}

func (Process) jsonSchema(g *schemaGen) map[string]any {
	s := g.structSchema(reflect.TypeFor[Process]())
	s["oneOf"] = []any{
		map[string]any{"required": []any{"command"}},
		map[string]any{"required": []any{"echo"}},
	}
	return s
}

// RouteTable is the routes of each node, in the order of the file.
type RouteTable []NodeRoutes

// NodeRoutes is one node's routes.
type NodeRoutes struct {
	Node   Text
	Routes []Text
}

func (rt *RouteTable) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.nodeTexts((*[]NodeRoutes)(rt), n, path, "routes")
}

// nodeTexts decodes a mapping of node names to a string or a list of
// strings (what they are, for errors) into rt.
func (d *decoder) nodeTexts(rt *[]NodeRoutes, n *yaml.Node, path, what string) {
	d.perNode(n, path, what, func(node Text, v *yaml.Node, path string) {
		nr := NodeRoutes{Node: node}
		if v.Kind == yaml.ScalarNode && !isNull(v) {
			var t Text
			t.unmarshalYAML(d, v, path)
			nr.Routes = []Text{t}
		} else {
			d.decode(v, reflect.ValueOf(&nr.Routes).Elem(), path)
		}
		*rt = append(*rt, nr)
	})
}

// RuleTable is the policy-routing rules of each node, in the order of the
// file; it is written as routes are.
type RuleTable []NodeRoutes

func (rt *RuleTable) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.nodeTexts((*[]NodeRoutes)(rt), n, path, "rules")
}

func (RuleTable) jsonSchema(*schemaGen) map[string]any {
	rule := map[string]any{"type": "string", "examples": []any{"from h2 table 100", "to 10.9.0.0/16 iif eth0 lookup 200 priority 50"}}
	return perNodeSchema(map[string]any{"oneOf": []any{rule, map[string]any{"type": "array", "items": rule}}})
}

// LoopbackSpec is a node's loopback key: auto, or addresses.
type LoopbackSpec struct {
	At    `json:"-"`
	Auto  bool
	Addrs []Text
}

func (ls *LoopbackSpec) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	ls.At = At{Pos: pos(n)}
	var l StringList
	l.unmarshalYAML(d, n, path)
	if len(l) == 1 && l[0].V == "auto" {
		ls.Auto = true
		return
	}
	ls.Addrs = l
}

func (LoopbackSpec) jsonSchema(*schemaGen) map[string]any {
	addr := map[string]any{"type": "string", "examples": []any{"10.255.0.1", "fd00:255::1"}}
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "description": "auto, or one address.", "examples": []any{"auto", "10.255.0.1"}},
		map[string]any{"type": "array", "items": addr, "description": "The addresses, IPv4 and/or IPv6."},
	}}
}

// perNode decodes a mapping of node names to values, in the order of the
// file: routes, firewall, nat. each is called with the node's name and its
// value (aliases resolved).
func (d *decoder) perNode(n *yaml.Node, path, what string, each func(node Text, v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		d.add(pos(n), "%swant a mapping of node: [%s], got %s", prefix(path), what, describe(n))
		return
	}
	for _, kv := range d.pairs(n, path) {
		node := Text{V: kv.key, Pos: pos(kv.keyNode), plain: kv.keyNode.Style == 0}
		if v := d.resolve(kv.val); v != nil {
			each(node, v, join(path, kv.key))
		}
	}
}

// perNodeSchema describes a mapping of node names to values.
func perNodeSchema(value map[string]any) map[string]any {
	return map[string]any{"type": "object", "additionalProperties": value}
}

func (RouteTable) jsonSchema(*schemaGen) map[string]any {
	route := map[string]any{"type": "string", "examples": []any{"default via r1", "10.2.0.0/16 via 10.0.0.2 metric 100"}}
	return perNodeSchema(map[string]any{"oneOf": []any{route, map[string]any{"type": "array", "items": route}}})
}

// PerNode is a list of entries per node, in the order of the file:
// node: [entries].
type PerNode[E any] []NodeEntries[E]

// NodeEntries is one node's entries.
type NodeEntries[E any] struct {
	Node    Text
	Entries []E
}

func (t *PerNode[E]) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	d.perNode(n, path, "entries", func(node Text, v *yaml.Node, path string) {
		ne := NodeEntries[E]{Node: node}
		d.decode(v, reflect.ValueOf(&ne.Entries).Elem(), path)
		*t = append(*t, ne)
	})
}

func (PerNode[E]) jsonSchema(g *schemaGen) map[string]any {
	return perNodeSchema(g.of(reflect.TypeFor[[]E]()))
}

// FirewallTable is the firewall entries of each node (a type of its own
// for the schema's name).
type FirewallTable struct{ PerNode[FirewallEntry] }

// NATTable is the NAT entries of each node.
type NATTable struct{ PerNode[NATEntry] }

func (FirewallEntry) jsonSchema(g *schemaGen) map[string]any { return alternatives[FirewallEntry](g) }

func (NATEntry) jsonSchema(g *schemaGen) map[string]any { return alternatives[NATEntry](g) }

// alternatives describes a struct whose pointer fields are alternatives:
// exactly one of their keys is required.
func alternatives[T any](g *schemaGen) map[string]any {
	s := g.structSchema(reflect.TypeFor[T]())
	var alts []any
	for _, k := range keysOf(reflect.TypeFor[T]()) {
		alts = append(alts, map[string]any{"required": []any{k}})
	}
	s["oneOf"] = alts
	return s
}

// Params are the declared parameters, in the order of the file.
type Params []Param

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parameters' defaults are taken as written: no substitution in them.
func (ps *Params) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(pos(n), "%swant a mapping of NAME: default, got %s", prefix(path), describe(n))
		return
	}
	for _, kv := range d.pairs(n, path) {
		p := Param{Name: Text{V: kv.key, Pos: pos(kv.keyNode)}}
		if !paramName.MatchString(kv.key) {
			d.add(pos(kv.keyNode), "%s: parameter name %q: use letters, digits and '_', not starting with a digit", path, kv.key)
		}
		v := d.resolve(kv.val)
		if v == nil {
			return
		}
		if v.Kind != yaml.ScalarNode {
			d.add(pos(v), "%swant a plain value as default, got %s", prefix(join(path, kv.key)), describe(v))
		} else if !isNull(v) {
			p.Default = v.Value
		}
		*ps = append(*ps, p)
	}
}

func (Params) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{
		"type":                 "object",
		"propertyNames":        map[string]any{"pattern": paramName.String()},
		"additionalProperties": map[string]any{"type": []any{"string", "number", "boolean", "null"}},
	}
}

// keysOf lists the keys of a struct's pointer fields: its alternatives.
func keysOf(t reflect.Type) []string {
	var keys []string
	for _, f := range fields(t) {
		if f.typ.Kind() == reflect.Pointer {
			keys = append(keys, f.name)
		}
	}
	return keys
}

// setKeys lists the keys of v's pointer fields that are set.
func setKeys(v reflect.Value) []string {
	var keys []string
	for _, f := range fields(v.Type()) {
		if fv := v.FieldByIndex(f.index); fv.Kind() == reflect.Pointer && !fv.IsNil() {
			keys = append(keys, f.name)
		}
	}
	return keys
}

// Fraction is a probability: "10%" or 0.1.
type Fraction struct {
	V   float64
	Pos Pos
}

var (
	percentPattern = `^[0-9]+(\.[0-9]+)?%$`
	percentRE      = regexp.MustCompile(percentPattern)
	decimalRE      = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
)

func (f *Fraction) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	f.Pos = pos(n)
	s, ok := d.scalar(n, path, `a probability such as "10%" or 0.1`)
	if !ok {
		return
	}
	v, err := ParseFraction(s)
	if err != nil {
		d.add(pos(n), "%s%v", prefix(path), err)
		return
	}
	f.V = v
}

// ParseFraction reads a probability as scenario files write it: "10%" or
// 0.1.
func ParseFraction(s string) (float64, error) {
	switch {
	case percentRE.MatchString(s):
		v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if v > 100 {
			return 0, fmt.Errorf("%s is more than 100%%", s)
		}
		return v / 100, nil
	case decimalRE.MatchString(s):
		v, _ := strconv.ParseFloat(s, 64)
		if v > 1 {
			return 0, fmt.Errorf("%s is more than 1: write a percentage with %% (%s%%), a fraction from 0 to 1 without", s, s)
		}
		return v, nil
	}
	return 0, fmt.Errorf("%q is not a probability: write it as 10%% or 0.1", s)
}

func (Fraction) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "number", "minimum": 0, "maximum": 1},
		map[string]any{"type": "string", "pattern": percentPattern},
		paramRef,
	}, "examples": []any{"1%", 0.01}}
}

// Rate is a rate in bits per second: "10mbit", "500kbit", "1gbit", 1000000.
type Rate struct {
	V   uint64
	Pos Pos
}

var (
	ratePattern = `^[0-9]+(\.[0-9]+)?([kKmMgG]?bit)?$`
	rateRE      = regexp.MustCompile(ratePattern)
)

func (r *Rate) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	r.Pos = pos(n)
	s, ok := d.scalar(n, path, `a rate such as "10mbit"`)
	if !ok {
		return
	}
	v, err := ParseRate(s)
	if err != nil {
		d.add(pos(n), "%s%v", prefix(path), err)
		return
	}
	r.V = v
}

// ParseRate reads a rate in bits per second as scenario files write it:
// "10mbit", "500kbit", "1gbit", "1000000".
func ParseRate(s string) (uint64, error) {
	if !rateRE.MatchString(s) {
		if strings.HasSuffix(strings.ToLower(s), "bps") {
			return 0, fmt.Errorf("%q: rates are in bits per second: write 10mbit, 500kbit or 1gbit (tc's bps means bytes per second: 8 times more bits)", s)
		}
		return 0, fmt.Errorf("%q is not a rate: write it as 10mbit, 500kbit, 1gbit or a number of bits per second", s)
	}
	num := strings.TrimRight(strings.ToLower(s), "kmgbit")
	mult := map[string]float64{"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}[strings.ToLower(s[len(num):])]
	v, _ := strconv.ParseFloat(num, 64)
	bits := v * mult
	if bits != float64(uint64(bits)) || bits > 1e15 {
		return 0, fmt.Errorf("%s is not a whole number of bits per second", s)
	}
	return uint64(bits), nil
}

func (Rate) jsonSchema(*schemaGen) map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "integer", "minimum": 0},
		map[string]any{"type": "string", "pattern": ratePattern},
		paramRef,
	}, "examples": []any{"10mbit", "500kbit"}}
}
