package scenario

import (
	"reflect"
	"regexp"
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
	if n.Kind == yaml.ScalarNode {
		s.At = At{Pos: pos(n)}
		s.Name.unmarshalYAML(d, n, path)
		return
	}
	d.decodeStruct(n, reflect.ValueOf(s).Elem(), path)
}

func (NodeSpec) jsonSchema(g *schemaGen) map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "description": "A host of that name."},
		g.structSchema(reflect.TypeFor[NodeSpec]()),
	}}
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
	if n.Kind != yaml.MappingNode {
		d.add(pos(n), "%swant a mapping of node: [routes], got %s", prefix(path), describe(n))
		return
	}
	for _, kv := range d.pairs(n, path) {
		nr := NodeRoutes{Node: Text{V: kv.key, Pos: pos(kv.keyNode), plain: kv.keyNode.Style == 0}}
		if v := d.resolve(kv.val); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			var t Text
			t.unmarshalYAML(d, v, join(path, kv.key))
			nr.Routes = []Text{t}
		} else if v != nil {
			d.decode(v, reflect.ValueOf(&nr.Routes).Elem(), join(path, kv.key))
		}
		*rt = append(*rt, nr)
	}
}

func (RouteTable) jsonSchema(*schemaGen) map[string]any {
	route := map[string]any{"type": "string", "examples": []any{"default via r1", "10.2.0.0/16 via 10.0.0.2 metric 100"}}
	return map[string]any{
		"type": "object",
		"additionalProperties": map[string]any{"oneOf": []any{
			route, map[string]any{"type": "array", "items": route},
		}},
	}
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

// Step: exactly one action; the schema says so with oneOf.
func (Step) jsonSchema(g *schemaGen) map[string]any {
	return oneOfKeys(g.structSchema(reflect.TypeFor[Step]()), stepKeys)
}

func (Check) jsonSchema(g *schemaGen) map[string]any {
	return oneOfKeys(g.structSchema(reflect.TypeFor[Check]()), checkKeys)
}

// oneOfKeys makes an object schema require exactly one of keys.
func oneOfKeys(s map[string]any, keys []string) map[string]any {
	var alts []any
	for _, k := range keys {
		alts = append(alts, map[string]any{"required": []any{k}})
	}
	s["oneOf"] = alts
	return s
}

// The keys of a step's action, and of a check.
var (
	checkKeys = []string{"ping", "no-ping", "dial", "route", "exec"}
	stepKeys  = append(append([]string(nil), checkKeys...), "link-down", "link-up", "start", "stop", "eventually")
)
