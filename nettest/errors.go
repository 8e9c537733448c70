package nettest

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ConfigError is one problem found in a [Topology] (or a [Rule], an
// [Impairment], a NAT entry) before any kernel call, or a value of the
// Topology the kernel refused at [Build] (a sysctl). [Topology.Validate]
// and [Build] return every ConfigError they find, joined with
// [errors.Join]; errors.As finds the first, and the joined error's
// Unwrap() []error lists them all.
//
// Besides its text, a ConfigError says which element of the Topology is at
// fault, so that a caller can point at it (a scenario file maps it to a
// line) without reading the message. Index fields are -1 when they do not
// apply.
type ConfigError struct {
	// Where names the thing at fault, outermost first:
	// "node r2: interface eth1: address 10.0.0.300/24".
	Where string
	// Problem says what is wrong with it: "invalid".
	Problem string

	// Node is the name of the node at fault, or of the node whose route,
	// sysctl or interface is; NodeIndex is its index in Topology.Nodes.
	Node      string
	NodeIndex int
	// Link is the name of the link at fault (the engine's name for an
	// unnamed link, "a-b"); LinkIndex is its index in Topology.Links.
	Link      string
	LinkIndex int
	// LAN is the name of the LAN at fault; LANIndex is its index in
	// Topology.LANs.
	LAN      string
	LANIndex int
	// End is the end of the link at fault: "A" or "B", or "".
	End string
	// Member is the index of the LAN's member at fault in LANConfig.Members.
	Member int
	// Route is the index of the route at fault in the node's
	// NodeConfig.Routes.
	Route int
	// PolicyRule is the index of the policy rule at fault in the node's
	// NodeConfig.Rules.
	PolicyRule int
	// Sysctl is the key of the node's sysctl at fault, as given
	// ("net.ipv4.ip_forward").
	Sysctl string
	// Field is the Go name of the field at fault within the element named
	// above: "Name", "Kind", "MTU", "Iface", "MAC", "Addrs", "Impair.AB",
	// "Impair.BA", "ImpairVia", "Members", "Value" (a sysctl's),
	// "Loopback", "AutoLoopback", "Rules" (a policy rule); a Rule's
	// "Proto", "DstPort" ...; "" for the element as a whole.
	Field string
	// Value is the value at fault, as text ("10.0.0.300/24", "70000").
	Value string
	// Hint says how to get past the problem, in the Go API's terms ("give
	// Auto.IPv4Links a larger pool ..."), or is "": a layer with other
	// words for the same settings (scenario files) gives its own.
	Hint string
	// Err is the cause the problem comes from, if any: the kernel's error
	// for a refused sysctl, [ErrUnsupported] for a mechanism this kernel
	// lacks.
	Err error
}

// Error returns "where: problem".
func (e *ConfigError) Error() string {
	msg := e.Problem
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	if e.Where == "" {
		return msg
	}
	return e.Where + ": " + msg
}

// Unwrap returns the cause, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// at returns a ConfigError that names nothing yet: every index -1.
func at(where string) ConfigError {
	return ConfigError{Where: where, NodeIndex: -1, LinkIndex: -1, LANIndex: -1, Member: -1, Route: -1, PolicyRule: -1}
}

// nodeAt, linkAt and lanAt name the element of a Topology at fault.
func nodeAt(i int, name string) ConfigError {
	c := at(nodeWhere(i, name))
	c.Node, c.NodeIndex = name, i
	return c
}

func linkAt(i int, name string) ConfigError {
	c := at("link " + name)
	c.Link, c.LinkIndex = name, i
	return c
}

func lanAt(i int, name string) ConfigError {
	c := at(lanWhere(i, name))
	c.LAN, c.LANIndex = name, i
	return c
}

// in returns c located further in: part is appended to Where.
func (c ConfigError) in(part string) ConfigError {
	c.Where = where(c.Where, part)
	return c
}

// field returns c naming a field and its value.
func (c ConfigError) field(name string, value any) ConfigError {
	c.Field = name
	if value != nil {
		c.Value = fmt.Sprint(value)
	}
	return c
}

// ErrPrivilege is wrapped by the error [Build] returns when the process may
// not create network namespaces or configure them.
var ErrPrivilege = errors.New("not enough privilege")

// ErrUnsupported is wrapped by errors that report a kernel feature this kernel
// lacks (see [DetectFeatures]). It is [errors.ErrUnsupported], so either
// errors.Is(err, nettest.ErrUnsupported) or errors.Is(err, errors.ErrUnsupported) works.
var ErrUnsupported = errors.ErrUnsupported

// ErrClosed is wrapped by the error of every call on a Network (or its
// nodes and links) made after Close, [Node.Netlink], [Node.NetNS] and
// [Node.NetNSPath] included.
var ErrClosed = errors.New("the network is closed")

// nilContext is the error of a call given a nil context.Context, which
// nettest refuses rather than panicking on later: "nettest: node h1: Ping:
// ctx is nil (use context.Background() for no deadline)". where names the
// thing ("nettest: node h1"), call the method.
func nilContext(where, call string) error {
	return fmt.Errorf("%s: %s: ctx is nil (use context.Background() for no deadline)", where, call)
}

// problems collects ConfigErrors.
type problems []error

// at records a problem of the element c names.
func (p *problems) at(c ConfigError, format string, args ...any) {
	c.Problem = fmt.Sprintf(format, args...)
	*p = append(*p, &c)
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}

// where joins the parts of a ConfigError's location.
func where(parts ...string) string {
	var keep []string
	for _, s := range parts {
		if s != "" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, ": ")
}

// ArtifactsEnv names the environment variable that names a folder where
// nettest's users keep what a run leaves for people to read — every Go
// test's topology reports and captures (package fixtures), every scenario's
// captures (nettest-run) — whether it passed or failed.
const ArtifactsEnv = "NETTEST_ARTIFACTS"

// kernelError marks errors that mean "this kernel has no such feature".
func kernelError(feature string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("kernel lacks %s support: %w (%v)", feature, ErrUnsupported, err)
	}
	return err
}
