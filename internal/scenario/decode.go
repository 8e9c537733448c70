package scenario

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The scenario file is decoded from yaml.v3's node tree rather than with
// yaml.Unmarshal, so that every problem is reported at its line and column,
// all of them at once: unknown keys, duplicate keys, wrong types, missing
// keys. The Go types of file.go say what is allowed, with their json tags
// (the same tags the JSON Schema is generated from, so the two agree):
//
//   - a struct is a mapping; a field's key is its json name, and the option
//     "required" makes it required; an embedded struct without a name
//     inlines its fields; a field of type At records where the mapping and
//     each of its values are;
//   - a slice is a sequence, a map[string]T a mapping with any keys, a
//     pointer an optional value;
//   - string, int and bool are scalars (a string takes any scalar);
//   - a type with an unmarshalYAML method decodes itself (unions such as
//     "a string or a mapping").
//
// Every scalar string goes through ${PARAM} substitution first.

// At records where a mapping was in the file, and where each of its values was.
type At struct {
	Pos  Pos
	vals []keyPos // in the file's order; a mapping has a few keys, each once
}

// keyPos is where the value of a key is. The key is the program's string
// (a field's or a step kind's name), not the file's, so that an At keeps
// nothing of the YAML tree alive.
type keyPos struct {
	key string
	pos Pos
}

// Of returns the position of the value of key, or of the mapping when the
// key is absent.
func (a At) Of(key string) Pos {
	if p, ok := a.val(key); ok {
		return p
	}
	return a.Pos
}

// val returns the position of the value of key, and whether it is given.
func (a At) val(key string) (Pos, bool) {
	for _, v := range a.vals {
		if v.key == key {
			return v.pos, true
		}
	}
	return Pos{}, false
}

var atType = reflect.TypeFor[At]()

// unmarshaler is implemented by types that decode themselves.
type unmarshaler interface {
	unmarshalYAML(d *decoder, n *yaml.Node, path string)
}

var unmarshalerType = reflect.TypeFor[unmarshaler]()

// Limits against hostile input: YAML aliases can expand a small file into
// an exponentially large tree, or refer to their own ancestors. A file may
// have maxNodes values (aliases expanded), or one per bytesPerNode bytes
// of the size limit (--max-size) if that is more: the work and memory of
// the checks grow with the values, so the size limit bounds them too.
const (
	maxNodes     = 200_000
	bytesPerNode = 40
	maxDepth     = 64
)

// nodeBudget is how many values a file may have under a size limit.
func nodeBudget(maxSize int64) int {
	return int(max(maxNodes, maxSize/bytesPerNode))
}

type decoder struct {
	errList
	params    map[string]string // declared parameters and their values
	used      map[string]bool   // parameters referred to
	inProcess bool              // ${NODE} and friends are allowed
	nodes     int
	budget    int // how many values may be decoded, aliases expanded
	// where each key of a map[string]T and its value are, by path
	// ("topology.nodes[0].sysctls.net.ipv4.ip_forward")
	mapKeys map[string]keyAt
	depth   int
	aborted bool
	// release: the items of a list are let go of once decoded, so that
	// the YAML tree shrinks as the decoded values grow. Only for a tree
	// without aliases, in which each node is decoded once.
	release bool
}

// hasAlias reports whether a YAML tree has an alias (*name) anywhere.
func hasAlias(root *yaml.Node) bool {
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode {
			return true
		}
		stack = append(stack, n.Content...)
	}
	return false
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// keyAt is where a key and its value are.
type keyAt struct{ key, val Pos }

// resolve follows aliases and counts nodes; nil when the input is too large.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes > d.budget || d.depth > maxDepth {
		if !d.aborted {
			d.aborted = true
			d.add(pos(n), "the document is too large or too deeply nested: more than %s values, aliases expanded (--max-size allows one per %d bytes), or deeper than %d", thousands(d.budget), bytesPerNode, maxDepth)
		}
		return nil
	}
	return n
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "a document"
}

// join appends a key to a path: "topology" + "links" = "topology.links".
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// prefix names a path in a message: "topology.links[2]: ", or "" at the top.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// decode decodes n into v; path names the value in messages ("topology.links[2].mtu").
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n); n == nil {
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		v.Addr().Interface().(unmarshaler).unmarshalYAML(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(pos(n), "%swant a list, got %s", prefix(path), describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if d.release {
				n.Content[i] = nil // decoded: the garbage collector may have it
			}
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.add(pos(n), "%swant a mapping (key: value), got %s", prefix(path), describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, kv := range d.pairs(n, path) {
			val := reflect.New(v.Type().Elem()).Elem()
			if d.mapKeys == nil {
				d.mapKeys = map[string]keyAt{}
			}
			d.mapKeys[join(path, kv.key)] = keyAt{pos(kv.keyNode), pos(kv.val)}
			d.decode(kv.val, val, join(path, kv.key))
			m.SetMapIndex(reflect.ValueOf(kv.key), val)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			d.add(pos(n), "%swant an integer, got %q", prefix(path), s)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.add(pos(n), "%swant true or false, got %q", prefix(path), s)
		}
	default:
		panic("scenario: cannot decode into " + v.Type().String())
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// scalar returns a scalar's value after parameter substitution; want says
// what was expected, for the message when n is not a scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.add(pos(n), "%swant %s, got %s", prefix(path), want, describe(n))
		return "", false
	}
	return d.subst(n.Value, pos(n), path)
}

// pair is a key and its value in a mapping.
type pair struct {
	key       string
	keyNode   *yaml.Node
	val       *yaml.Node
	fromMerge bool
}

// manyKeys is how many keys a mapping has before pairs indexes them.
const manyKeys = 8

// pairs lists a mapping's keys and values, merge keys (<<: *anchor)
// expanded as YAML says (the mapping's own keys win, then earlier merged
// mappings), and reports keys that are not scalars or appear twice.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	out := make([]pair, 0, len(n.Content)/2)
	var index map[string]int // for a mapping of many keys; a few are found faster in out
	find := func(key string) (int, bool) {
		if index != nil {
			j, ok := index[key]
			return j, ok
		}
		for j := range out {
			if out[j].key == key {
				return j, true
			}
		}
		return 0, false
	}
	var walk func(n *yaml.Node, merged bool)
	walk = func(n *yaml.Node, merged bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				if v = d.resolve(v); v == nil {
					return
				}
				maps := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					maps = v.Content
				}
				for _, m := range maps {
					if m = d.resolve(m); m == nil {
						return
					}
					if m.Kind != yaml.MappingNode {
						d.add(pos(m), "%sa merge key (<<) takes a mapping or a list of mappings, got %s", prefix(path), describe(m))
						continue
					}
					walk(m, true)
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				d.add(pos(k), "%sa key must be a plain value, got %s", prefix(path), describe(k))
				continue
			}
			p := pair{key: k.Value, keyNode: k, val: v, fromMerge: merged}
			j, exists := find(k.Value)
			switch {
			case !exists:
				if index == nil && len(out) == manyKeys {
					index = make(map[string]int, 2*manyKeys)
					for j := range out {
						index[out[j].key] = j
					}
				}
				if index != nil {
					index[k.Value] = len(out)
				}
				out = append(out, p)
			case merged:
				// the mapping's own key, or an earlier merged one, wins
			case out[j].fromMerge:
				out[j] = p
			default:
				d.add(pos(k), "%sduplicate key %q (first at line %d)", prefix(path), k.Value, out[j].keyNode.Line)
			}
		}
	}
	walk(n, false)
	return out
}

// field is a struct field as the decoder sees it.
type field struct {
	name     string
	index    []int
	required bool
	typ      reflect.Type
	doc      string
}

var fieldCache sync.Map // reflect.Type -> []field

// fields lists a struct type's keys in declaration order, embedded structs
// without a name inlined.
func fields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type == atType || !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			for _, f := range fields(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		name = cmp.Or(name, strings.ToLower(sf.Name))
		out = append(out, field{
			name: name, index: []int{i}, typ: sf.Type, doc: sf.Tag.Get("doc"),
			required: slices.Contains(strings.Split(opts, ","), "required"),
		})
	}
	fieldCache.Store(t, out)
	return out
}

// decodeStruct decodes a mapping into a struct.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(pos(n), "%swant a mapping (key: value), got %s", prefix(path), describe(n))
		return
	}
	fs := fields(v.Type())
	kvs := d.pairs(n, path)
	at := At{Pos: pos(n), vals: make([]keyPos, 0, len(kvs))}
	for _, kv := range kvs {
		i := slices.IndexFunc(fs, func(f field) bool { return f.name == kv.key })
		if i < 0 {
			d.add(pos(kv.keyNode), "%sunknown key %q%s (want %s)", prefix(path), kv.key, suggest(kv.key, fs), keyList(fs))
			continue
		}
		at.vals = append(at.vals, keyPos{fs[i].name, pos(kv.val)})
		d.decode(kv.val, v.FieldByIndex(fs[i].index), join(path, kv.key))
	}
	for _, f := range fs {
		if _, ok := at.val(f.name); f.required && !ok {
			d.add(pos(n), "%smissing key %q", prefix(path), f.name)
		}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).Type == atType {
			v.Field(i).Set(reflect.ValueOf(at))
		}
	}
}

func keyList(fs []field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// suggest returns ` (did you mean "x"?)` for a key close to a known one.
func suggest(key string, fs []field) string {
	best, bestD := "", 3
	for _, f := range fs {
		if dist := editDistance(strings.ToLower(key), f.name); dist < bestD {
			best, bestD = f.name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Built-in variables, known inside processes only; they are replaced when a
// process starts.
var builtins = []string{"NODE", "INDEX", "FILES", "NAME"}

// subst replaces ${PARAM} with the parameter's value, "$$" with "$", and
// leaves ${NODE}, ${INDEX}, ${FILES} and ${NAME} in processes for later.
// Any other "$" stays as it is (a shell's $HOME, say).
func (d *decoder) subst(s string, p Pos, path string) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	ok := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				d.add(p, "%s%q has ${ without a closing }", prefix(path), s)
				return s, false
			}
			name := s[i+2 : i+2+end]
			i += 2 + end
			if v, known := d.params[name]; known {
				d.used[name] = true
				b.WriteString(v)
				continue
			}
			if slices.Contains(builtins, name) && d.inProcess {
				b.WriteString("${" + name + "}")
				continue
			}
			ok = false
			switch {
			case !paramName.MatchString(name):
				d.add(p, "%sparameter name %q: use letters, digits and '_', not starting with a digit (write $${ for a literal ${)", prefix(path), name)
			case slices.Contains(builtins, name):
				d.add(p, "%s${%s} is known only in processes", prefix(path), name)
			default:
				d.add(p, "%sunknown parameter ${%s} (declared: %s; write $${%s} for a literal ${%s})", prefix(path), name, d.paramList(), name, name)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ok
}

func (d *decoder) paramList() string {
	if len(d.params) == 0 {
		return "none"
	}
	var names []string
	for k := range d.params {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
