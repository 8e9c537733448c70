package scenario

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/assertions"
)

// A step of a scenario file is one keyword and its value ("ping: {from:
// a, to: b}"). Each keyword is a kind of step: a type, in the steps_*.go
// file of its family, that decodes, checks and runs itself (the action
// interface), registered in stepKinds. The decoder, the checks, the run
// and the JSON Schema all read stepKinds: adding a kind is a file and a
// line there (doc.go says how).

// action is one step kind's value.
type action interface {
	// value is what the decoder fills in from the keyword's value, by
	// the rules of decode.go: a pointer to a struct, or to a Text. Its
	// type is the value's schema too.
	value() any
	// check checks the value against the scenario, keeps what running
	// it needs, and returns the step's default name ("ping a -> b").
	check(s *Scenario, l *errList) string
	// run runs the step and returns its output and why it failed ("" if
	// it passed). A check gets eventually's timing; other kinds zero.
	run(ctx context.Context, r *Run, t timing) (out []string, failure string)
}

// role says what a kind of step does.
type role int

const (
	changes role = iota // changes the network or its processes: runs even when -run does not select it
	checks              // checks something; eventually takes it
	waits               // eventually: a check tried again
)

// stepKind is a keyword of a step.
type stepKind struct {
	key  string
	role role
	new  func() action // a value to decode into
	doc  string        // the keyword's description in the JSON Schema
}

// stepKinds are the keywords of steps, in the order the schema and the
// messages list them: the checks first.
var stepKinds = []stepKind{
	{"ping", checks, func() action { return &PingStep{} }, "Every echo request is answered (ping(8) from inside a node)."},
	{"no-ping", checks, func() action { return &PingStep{no: true} }, "No echo request is answered."},
	{"dial", checks, func() action { return &DialStep{} }, "A TCP connection or UDP exchange, expected to open, be refused or time out."},
	{"route", checks, func() action { return &RouteStep{} }, "The route a node's kernel chooses for a destination (ip route get)."},
	{"converged", checks, func() action { return &ConvergedStep{} }, "The network has converged: every node's routing table (each route with its protocol) held still for settle, then every host reached every other host (every node, with fewer than two hosts). The wait after starting routing daemons or cutting a link."},
	{"exec", checks, func() action { return &ExecStep{} }, "Run a command inside a node and check its exit code and output. Its output is printed."},
	{"saw-packet", checks, func() action { return &PacketStep{} }, "At least one frame a capture has recorded so far matches (running or stopped)."},
	{"no-packet", checks, func() action { return &PacketStep{no: true} }, "No frame a capture has recorded so far matches; a capture that dropped frames fails it."},
	{"link-down", changes, func() action { return &linkStep{} }, "Set a link down (both ends, as a pulled cable): its name (\"r1-r2\") or one of its ends (\"r1:eth1\")."},
	{"link-up", changes, func() action { return &linkStep{up: true} }, "Bring a link back up, with its addresses and routes; returns when it is ready."},
	{"iface-down", changes, func() action { return &ifaceStep{} }, "Set one end of a link down, node:iface: the other end stays up without a carrier, as when one side of a cable is unplugged."},
	{"iface-up", changes, func() action { return &ifaceStep{up: true} }, "Bring one end back up, node:iface, with its addresses and routes; returns when its link is ready (if the other end is up)."},
	{"impair", changes, func() action { return &ImpairStep{} }, "Replace a link's impairments: both, a-b, b-a (a direction not given is not impaired), or none: true."},
	{"flap", changes, func() action { return &FlapStep{} }, "Take a link down for down, then up for up, times times; the step lasts that long."},
	{"partition", changes, func() action { return &PartitionStep{} }, "Cut nodes off from the rest: every link between them and the others goes down, and their LAN attachments where a LAN has members on both sides. A list of nodes, or {name, nodes} to heal it by name."},
	{"isolate", changes, func() action { return &isolateStep{} }, "Cut one node off from every other (a partition of one node, named after it)."},
	{"heal", changes, func() action { return &HealStep{} }, "Undo partitions: true (every one in place) or a name (a partition's name, or the node of an isolate step); brings exactly those links back up and returns when they are ready."},
	{"start", changes, func() action { return &procStep{} }, "Start a process (all its instances, or one: NAME@NODE) and wait until it is ready."},
	{"stop", changes, func() action { return &procStep{stop: true} }, "Stop a process: SIGTERM, then SIGKILL after 5s."},
	{"allow", changes, func() action { return &RuleStep{verb: "allow"} }, "Add a firewall rule to a node that accepts the packets it matches (after the node's earlier rules: the first match wins)."},
	{"deny", changes, func() action { return &RuleStep{verb: "deny"} }, "Add a firewall rule that drops the packets it matches silently: a dial times out."},
	{"reject", changes, func() action { return &RuleStep{verb: "reject"} }, "Add a firewall rule that refuses the packets it matches (TCP reset, else ICMP port unreachable): a dial is refused."},
	{"default-deny", changes, func() action { return &PolicyStep{verb: "default-deny"} }, "Drop what no rule accepts, in the given directions of a node (all three by default). Loopback and IPv6 neighbour discovery stay allowed."},
	{"default-allow", changes, func() action { return &PolicyStep{verb: "default-allow"} }, "Accept what no rule matches again (the default), in the given directions."},
	{"firewall-clear", changes, func() action { return &clearStep{} }, "Remove a node's rules, policies and NAT: everything nettest installed in its nftables."},
	{"masquerade", changes, func() action { return &masqueradeStep{} }, "NAT: packets leaving through node:iface take that interface's address (IPv4 and IPv6), and the answers come back."},
	{"snat", changes, func() action { return &SNATStep{} }, "NAT: packets from src leave a node with the address to, whatever interface they leave through."},
	{"port-forward", changes, func() action { return &PortForwardStep{} }, "NAT: connections to port on any of a node's addresses go on to the address and port to; the server sees the real client."},
	{"nat-clear", changes, func() action { return &clearStep{nat: true} }, "Remove a node's NAT rules, leaving its firewall."},
	{"capture", changes, func() action { return &CaptureStep{} }, "Start recording the frames crossing an interface (node:iface, or {iface, name}) to a pcapng file, for saw-packet and no-packet checks; it runs until capture-stop or the end."},
	{"capture-stop", changes, func() action { return &captureStopStep{} }, "Stop a capture, by its name; its frames can still be checked."},
	{"eventually", waits, func() action { return &Eventually{} }, "A check tried again until it passes or the time is up."},
}

// The keys of a step's action, and of a check, in stepKinds' order.
var (
	stepKeys   = kindKeys(stepKinds)
	checkKinds = kindsOf(checks)
	checkKeys  = kindKeys(checkKinds)
)

func kindsOf(r role) []stepKind {
	var out []stepKind
	for _, k := range stepKinds {
		if k.role == r {
			out = append(out, k)
		}
	}
	return out
}

func kindKeys(kinds []stepKind) []string {
	keys := make([]string, len(kinds))
	for i, k := range kinds {
		keys[i] = k.key
	}
	return keys
}

// Step is one thing to do or check. It has exactly one action: a keyword
// of stepKinds and its value.
type Step struct {
	At   `json:"-"`
	Name string  `json:"name,omitempty" doc:"The step's name in the output; default: what it does (\"ping red -> blue\")."`
	acts []keyed // the keywords given with a value, in stepKinds' order
}

// Check is a check, as eventually takes it: exactly one keyword of a
// check (stepKinds' checks) and its value.
type Check struct {
	acts []keyed
}

// keyed is a keyword of a step and its decoded value.
type keyed struct {
	key  string
	role role
	act  action
}

// Key returns the step's keyword ("ping"), or "" if it has none.
func (st *Step) Key() string {
	if len(st.acts) == 0 {
		return ""
	}
	return st.acts[0].key
}

// Value returns the value of the step's keyword as decoded: a pointer to
// the step kind's type (*PingStep for ping and no-ping), or nil.
func (st *Step) Value() any {
	if len(st.acts) == 0 {
		return nil
	}
	return st.acts[0].act.value()
}

// action returns the step's action; nil unless it has one.
func (st *Step) action() action {
	if len(st.acts) == 0 {
		return nil
	}
	return st.acts[0].act
}

// actions lists the action keys a step has.
func (st *Step) actions() []string { return keysOfActs(st.acts) }

func (c *Check) actions() []string { return keysOfActs(c.acts) }

func keysOfActs(acts []keyed) []string {
	var keys []string
	for _, a := range acts {
		keys = append(keys, a.key)
	}
	return keys
}

func (st *Step) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	st.acts = d.actions(n, path, stepKinds, &st.At, &st.Name)
}

func (c *Check) unmarshalYAML(d *decoder, n *yaml.Node, path string) {
	c.acts = d.actions(n, path, checkKinds, nil, nil)
}

// actions decodes a mapping of one of kinds' keywords, and name when it is
// not nil; at (if not nil) records where the values are. A keyword given
// without a value is recorded in at but has no action.
func (d *decoder) actions(n *yaml.Node, path string, kinds []stepKind, at *At, name *string) []keyed {
	if n.Kind != yaml.MappingNode {
		d.add(pos(n), "%swant a mapping (key: value), got %s", prefix(path), describe(n))
		return nil
	}
	kvs := d.pairs(n, path)
	var vals []keyPos
	if at != nil {
		vals = make([]keyPos, 0, len(kvs))
	}
	var out []keyed
	for _, kv := range kvs {
		if kv.key == "name" && name != nil {
			vals = append(vals, keyPos{"name", pos(kv.val)})
			d.decode(kv.val, reflect.ValueOf(name).Elem(), join(path, kv.key))
			continue
		}
		i := slices.IndexFunc(kinds, func(k stepKind) bool { return k.key == kv.key })
		if i < 0 {
			known := knownKeys(kinds, name != nil)
			d.add(pos(kv.keyNode), "%sunknown key %q%s (want %s)", prefix(path), kv.key, suggest(kv.key, known), keyList(known))
			continue
		}
		if at != nil {
			vals = append(vals, keyPos{kinds[i].key, pos(kv.val)})
		}
		// As an optional (pointer) field: nothing is no action.
		v := d.resolve(kv.val)
		if v == nil || isNull(v) {
			continue
		}
		a := kinds[i].new()
		d.depth++
		d.decode(v, reflect.ValueOf(a.value()).Elem(), join(path, kv.key))
		d.depth--
		out = append(out, keyed{kinds[i].key, kinds[i].role, a})
	}
	if at != nil {
		*at = At{Pos: pos(n), vals: vals}
	}
	// In kinds' order; a key is in a mapping once (pairs sees to that).
	slices.SortStableFunc(out, func(a, b keyed) int {
		return slices.IndexFunc(kinds, func(k stepKind) bool { return k.key == a.key }) -
			slices.IndexFunc(kinds, func(k stepKind) bool { return k.key == b.key })
	})
	return out
}

// knownKeys are the keys a step (withName) or a check may have, for a
// message about one it may not.
func knownKeys(kinds []stepKind, withName bool) []field {
	var known []field
	if withName {
		known = append(known, field{name: "name"})
	}
	for _, k := range kinds {
		known = append(known, field{name: k.key})
	}
	return known
}

// Step and Check: exactly one keyword; the schema says so with oneOf.
func (Step) jsonSchema(g *schemaGen) map[string]any {
	return actionsSchema(g, reflect.TypeFor[Step](), stepKinds)
}

func (Check) jsonSchema(g *schemaGen) map[string]any {
	return actionsSchema(g, reflect.TypeFor[Check](), checkKinds)
}

// actionsSchema describes a struct t whose keys are its fields' and
// kinds' keywords, exactly one of the keywords required.
func actionsSchema(g *schemaGen, t reflect.Type, kinds []stepKind) map[string]any {
	s := g.structSchema(t)
	props := s["properties"].(map[string]any)
	var alts []any
	for _, k := range kinds {
		p := g.of(reflect.TypeOf(k.new().value()))
		if _, isRef := p["$ref"]; isRef {
			p = map[string]any{"allOf": []any{p}}
		}
		p["description"] = k.doc
		props[k.key] = p
		alts = append(alts, map[string]any{"required": []any{k.key}})
	}
	s["oneOf"] = alts
	return s
}

// step runs one step and returns its output lines and, if it failed, why.
func (r *Run) step(ctx context.Context, st *StepPlan) ([]string, string) {
	return st.Spec.action().run(ctx, r, timing{})
}

// failure is an error's text, or "" for none.
func failure(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// timing is eventually's: a check tried again every every until it
// passes or within is up. Zero: tried once.
type timing struct {
	within, every time.Duration
}

// options are the assertions' options of a check run with t.
func (t timing) options(ctx context.Context) []assertions.Option {
	opts := []assertions.Option{assertions.Context(ctx)}
	if t.within > 0 {
		opts = append(opts, assertions.Within(t.within))
		if t.every > 0 {
			opts = append(opts, assertions.Every(t.every))
		}
	}
	return opts
}

// familyOptions are the options of a family key: ipv4, ipv6, both or "".
func familyOptions(f Text) []assertions.Option {
	switch f.V {
	case "ipv4":
		return []assertions.Option{assertions.IPv4()}
	case "ipv6":
		return []assertions.Option{assertions.IPv6()}
	case "both":
		return []assertions.Option{assertions.IPv4(), assertions.IPv6()}
	}
	return nil
}

// timeoutOptions are the options of a timeout key.
func timeoutOptions(d Duration) []assertions.TimeoutOption {
	if d.D > 0 {
		return []assertions.TimeoutOption{assertions.Timeout(d.D)}
	}
	return nil
}

// asOptions gives options of a wider family (an Option is of every family,
// a TimeoutOption of the ping and dial ones) as those of one check's.
func asOptions[O, I any](in []I) []O {
	out := make([]O, 0, len(in))
	for _, o := range in {
		out = append(out, any(o).(O))
	}
	return out
}

// recorder is the assertions package's TestingT for the CLI: it keeps the
// messages a check reports, so that the CLI prints the same text a Go test
// would.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}
