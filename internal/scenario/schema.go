package scenario

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

//go:generate go run ./schemagen -o ../../docs/scenario.schema.json

// The JSON Schema of scenario files is generated from the same Go types and
// tags the decoder reads (file.go, values.go; for steps, the table of step
// kinds in steps.go), so that an editor validating with it and nettest-run
// validate agree on the keys. It is written by hand rather than with a
// reflection library: the scenario's unions (a node that is a name or a
// mapping, a command that is a string or a list, a step with exactly one
// action) are methods of the types themselves, next to their decoders, and
// the module needs no other dependency.

// SchemaID is the schema's $id.
const SchemaID = "https://github.com/nettestlab/nettest/raw/main/docs/scenario.schema.json"

// jsonSchemaer is implemented by types that describe themselves.
type jsonSchemaer interface {
	jsonSchema(g *schemaGen) map[string]any
}

var jsonSchemaerType = reflect.TypeFor[jsonSchemaer]()

type schemaGen struct {
	defs map[string]any
}

// Schema returns the JSON Schema (draft 2020-12) of a scenario file, indented.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.of(reflect.TypeFor[File]())
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "nettest-run scenario",
		"description": "A topology of network namespaces and the steps to run on it (nettest-run run FILE). See docs/scenarios.md.",
		"$ref":        root["$ref"],
		"$defs":       g.defs,
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// of returns the schema of a value of type t: a reference to a definition
// for structs and types that describe themselves.
func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return g.of(t.Elem())
	}
	if t.Implements(jsonSchemaerType) || (t.Kind() == reflect.Struct && t.Name() != "") {
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // placeholder against recursion
			if t.Implements(jsonSchemaerType) {
				g.defs[name] = reflect.Zero(t).Interface().(jsonSchemaer).jsonSchema(g)
			} else {
				g.defs[name] = g.structSchema(t)
			}
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	switch t.Kind() {
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, paramRef}}
	case reflect.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, paramRef}}
	}
	panic("scenario: no schema for " + t.String())
}

// paramRef allows a parameter where a number or boolean is expected: "${COUNT}".
var paramRef = map[string]any{"type": "string", "pattern": `\$\{[A-Za-z_][A-Za-z0-9_]*\}`}

// structSchema describes a struct as an object with exactly its keys.
func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []any
	for _, f := range fields(t) {
		p := g.of(f.typ)
		if _, isRef := p["$ref"]; isRef && f.doc != "" {
			p = map[string]any{"allOf": []any{p}}
		}
		if f.doc != "" {
			p["description"] = f.doc
		}
		sf := t.FieldByIndex(f.index)
		if e := sf.Tag.Get("enum"); e != "" {
			var vals []any
			for _, v := range strings.Split(e, ",") {
				vals = append(vals, v)
			}
			p = map[string]any{"description": f.doc, "type": "string", "enum": vals}
		}
		for _, lim := range []struct{ tag, key string }{{"min", "minimum"}, {"max", "maximum"}} {
			if v := sf.Tag.Get(lim.tag); v != "" {
				n, _ := strconv.Atoi(v)
				p["anyOf"].([]any)[0].(map[string]any)[lim.key] = n
			}
		}
		props[f.name] = p
		if f.required {
			required = append(required, f.name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if doc := typeDocs[t.Name()]; doc != "" {
		s["description"] = doc
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// typeDocs describe the definitions.
var typeDocs = map[string]string{
	"File":            "A scenario file: a topology and the steps to run on it.",
	"Topology":        "The network to build.",
	"NodeSpec":        "A host or router.",
	"LinkSpec":        "A veth pair between two nodes.",
	"LANSpec":         "A broadcast segment: a switch with members.",
	"AutoSpec":        "Automatic addresses and routes.",
	"Process":         "A program run inside a node (or one instance per node); give command or echo.",
	"EchoSpec":        "A built-in echo server.",
	"Ready":           "When a process counts as started; every key given must hold.",
	"Step":            "One thing to do or check: exactly one of " + strings.Join(stepKeys, ", ") + ".",
	"Check":           "A check: exactly one of " + strings.Join(checkKeys, ", ") + ".",
	"Eventually":      "A check tried again until it passes or the time is up.",
	"PingStep":        "A ping (ICMP echo) from a node.",
	"DialStep":        "A TCP or UDP dial from a node.",
	"RouteStep":       "The route a node's kernel chooses; give via, dev, src, proto or none.",
	"ConvergedStep":   "Every node's routes held still for settle, then every host reached every other.",
	"DaemonEntry":     "One daemon of a node: exactly one of " + strings.Join(keysOf(reflect.TypeFor[DaemonEntry]()), ", ") + ".",
	"FRRDaemon":       "FRRouting in the node: its configuration and daemons.",
	"BIRDDaemon":      "BIRD 2 in the node: its configuration.",
	"GenericDaemon":   "A daemon of your own: its command, files, and ready check.",
	"ExecStep":        "A command run inside a node.",
	"Match":           "Expectations on a command's output.",
	"ImpairSpec":      "A link's impairments: both, or a-b and b-a.",
	"ImpairmentSpec":  "One direction's impairment; probabilities as \"10%\" or 0.1.",
	"ImpairStep":      "New impairments for a link: both, a-b, b-a, or none: true.",
	"FlapStep":        "A link taken down and up again, times times.",
	"PartitionStep":   "Nodes cut off from the rest: a list of nodes, or a mapping with a name.",
	"FirewallEntry":   "One entry of a node's firewall: exactly one of " + strings.Join(keysOf(reflect.TypeFor[FirewallEntry]()), ", ") + ".",
	"FirewallRule":    "What a firewall rule matches; every key given must match.",
	"RuleStep":        "A firewall rule for a node; every key given but node must match.",
	"PolicySpec":      "A default policy, for the directions given (all three by default).",
	"PolicyStep":      "A node's default policy, for the directions given (all three by default).",
	"NATEntry":        "One entry of a node's NAT: exactly one of " + strings.Join(keysOf(reflect.TypeFor[NATEntry]()), ", ") + ".",
	"SNATRule":        "Source NAT: packets from src take the address to.",
	"SNATStep":        "Source NAT on a node: packets from src take the address to.",
	"PortForwardRule": "Destination NAT: connections to port go on to to.",
	"PortForwardStep": "Destination NAT on a node: connections to port go on to to.",
	"CaptureStep":     "A packet capture of node:iface, to a pcapng file.",
	"PacketStep":      "Frames of a capture: every key given must match.",
}
