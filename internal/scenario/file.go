package scenario

// The Go types of a scenario file. The decoder (decode.go) and the JSON
// Schema (schema.go) both read them: json tags name the keys, "required"
// marks the keys that must be there, doc tags describe them.

// File is a scenario file: a topology and the steps to run on it.
type File struct {
	At          `json:"-"`
	Name        Text     `json:"name" doc:"Names the scenario and its topology: letters, digits, '-' and '_', at most 32 bytes. Persisted namespaces are named nettest-NAME.NODE. Default: the file's name without .yaml."`
	Description string   `json:"description,omitempty" doc:"What the scenario shows; printed by nothing, for readers."`
	Params      Params   `json:"params,omitempty" doc:"Parameters and their defaults, NAME: value. ${NAME} anywhere in the file is replaced by the value; nettest-run --set NAME=VALUE changes it. $${X} is a literal ${X}."`
	Topology    Topology `json:"topology,required" doc:"The network: nodes, links, LANs, routes, processes."`
	Steps       []Step   `json:"steps,omitempty" doc:"What to do and check, in order."`
}

// Param is a declared parameter.
type Param struct {
	Name    Text
	Default string
}

// Topology is the network to build.
type Topology struct {
	At        `json:"-"`
	Nodes     []NodeSpec    `json:"nodes,required" doc:"Hosts and routers: each is a network namespace. A plain name is a host."`
	Links     []LinkSpec    `json:"links,omitempty" doc:"veth pairs, each joining two nodes."`
	LANs      []LANSpec     `json:"lans,omitempty" doc:"Broadcast segments: a bridge (switch) in a namespace of its own, each member attached by a veth pair."`
	Routes    RouteTable    `json:"routes,omitempty" doc:"Static routes per node, in ip-route syntax: \"default via 10.0.0.1\", \"10.2.0.0/16 via r2 metric 100\", \"default via r1\" (a gateway named by its node)."`
	Auto      *AutoSpec     `json:"auto,omitempty" doc:"What the harness fills in: addresses on links and LANs given none (on by default), routes along shortest paths (off by default)."`
	Firewall  FirewallTable `json:"firewall,omitempty" doc:"Packet filters per node, node: [entries], installed after the build and before the processes start: allow, deny, reject (rules, checked in order, the first match wins), default-deny, default-allow (policies). Each entry is written as the step of that name, without its node."`
	NAT       NATTable      `json:"nat,omitempty" doc:"Address translation per node (routers), node: [entries], installed after the build and before the processes start: masquerade: IFACE, snat, port-forward. Each entry is written as the step of that name, without its node."`
	Processes []Process     `json:"processes,omitempty" doc:"Programs to run inside nodes, started after the topology is built (unless start: false), each waited for as its ready key says, stopped at the end."`
}

// NodeSpec is a host or router. In the file it is a name (a host) or a mapping.
type NodeSpec struct {
	At      `json:"-"`
	Name    Text              `json:"name,required" doc:"The node's name: letters, digits, '-' and '_', at most 63 bytes; its hostname inside processes."`
	Kind    Text              `json:"kind,omitempty" doc:"host (the default: no forwarding) or router (IPv4 and IPv6 forwarding on)." enum:"host,router"`
	Sysctls map[string]string `json:"sysctls,omitempty" doc:"net.* sysctls written inside the node, as sysctl(8) names them: net.ipv4.ip_default_ttl: 255."`
}

// LinkSpec is a veth pair.
type LinkSpec struct {
	At        `json:"-"`
	Name      Text        `json:"name,omitempty" doc:"The link's name, for link-down and link-up steps. Default: A-B from the node names (A-B-2 for a second link between them)."`
	Endpoints []Text      `json:"endpoints,required" doc:"The two ends: \"node\", \"node:iface\", each optionally followed by its addresses: \"red:veth-red 10.1.1.1/24\", \"r1:eth0 10.0.0.1/30 fd00::1/64\". An interface not named gets eth0, eth1 ... in the order the node's ends appear. A link whose ends have no address gets automatic ones."`
	MTU       int         `json:"mtu,omitempty" doc:"MTU of both ends (68 to 65535; at least 1280 with IPv6). Default: 1500." min:"68" max:"65535"`
	Impair    *ImpairSpec `json:"impair,omitempty" doc:"Impairments from the start, per direction: both, or a-b (from the first endpoint to the second) and b-a. An impair step changes them during the run."`
	ImpairVia Text        `json:"impair-via,omitempty" doc:"The mechanism that makes the impairments: netem (the kernel's, everything), tbf+nftables (random loss and rate only), userspace (TAP devices and a forwarder in nettest-run: everything, reproducible with a seed) or none. Default: netem where the kernel has it, else tbf+nftables when it can, else userspace. Declare userspace to add delays later on a kernel without netem." enum:"netem,tbf+nftables,userspace,none"`
}

// LANSpec is a broadcast segment.
type LANSpec struct {
	At      `json:"-"`
	Name    Text   `json:"name,required" doc:"The LAN's name, shared with nodes' names; its switch namespace is named so."`
	Members []Text `json:"members,required" doc:"The nodes on it, as link endpoints are written: \"h1\", \"h2 10.0.0.2/24\", \"r1:eth1 10.0.0.1/24\"."`
	MTU     int    `json:"mtu,omitempty" doc:"MTU of every member's interface."`
}

// AutoSpec selects automatic addressing and routing.
type AutoSpec struct {
	At     `json:"-"`
	IPv4   *bool `json:"ipv4,omitempty" doc:"A /30 per link from 198.18.0.0/16, a /24 per LAN from 198.19.0.0/16, where no address is given. Default: true."`
	IPv6   *bool `json:"ipv6,omitempty" doc:"A /64 per link or LAN from fdf6:fd81:8f7e::/48, where no address is given. Default: true."`
	Routes *bool `json:"routes,omitempty" doc:"Static routes on every node along shortest paths, so that every address reaches every other (only routers forward); routes given in routes: win. Default: false."`
}

// Process is a program run inside one node or several.
type Process struct {
	At      `json:"-"`
	Name    Text              `json:"name,required" doc:"Names the process in start and stop steps. With several nodes, each instance is NAME@NODE."`
	Node    Text              `json:"node,omitempty" doc:"The node it runs in."`
	Nodes   []Text            `json:"nodes,omitempty" doc:"Or the nodes it runs in, one instance each: ${NODE} is the node's name and ${INDEX} its position in this list, from 1."`
	Command *Command          `json:"command,omitempty" doc:"The program: a list (argv, run as is) or a string (split into words, or run by sh -c when it has shell syntax such as $, quotes, |, && or ;). ${FILES} is the instance's folder, holding its files; ${NAME} is the scenario's name."`
	Echo    *EchoSpec         `json:"echo,omitempty" doc:"Instead of a command, a built-in echo server (TCP: echoes each connection; UDP: answers each datagram)."`
	Files   map[string]string `json:"files,omitempty" doc:"Files written to the instance's folder (${FILES}) before it starts, name: content; ${NODE}, ${INDEX}, ${FILES}, ${NAME} and parameters are replaced in the content."`
	Env     map[string]string `json:"env,omitempty" doc:"Environment variables added to nettest-run's own."`
	Ready   *Ready            `json:"ready,omitempty" doc:"When the process counts as started. Default: as soon as it runs."`
	Start   *bool             `json:"start,omitempty" doc:"false: do not start it with the topology; a start step does. Default: true."`
}

// EchoSpec is a built-in echo server.
type EchoSpec struct {
	At    `json:"-"`
	Proto Text `json:"proto,omitempty" doc:"tcp (the default) or udp." enum:"tcp,udp"`
	Port  int  `json:"port,required" doc:"The port it listens on, on every address of the node." min:"1" max:"65535"`
}

// Ready says when a process is ready; every key given must hold.
type Ready struct {
	At     `json:"-"`
	TCP    Text     `json:"tcp,omitempty" doc:"A TCP connection to this address succeeds from inside the node: \"8080\" (127.0.0.1), \"[::1]:179\", \"10.0.0.1:80\"."`
	File   Text     `json:"file,omitempty" doc:"This file exists (a socket, a pid file): \"${FILES}/bird.ctl\"."`
	Log    Text     `json:"log,omitempty" doc:"A line of the process's output matches this regular expression."`
	Within Duration `json:"within,omitempty" doc:"How long to wait. Default: 10s."`
}

// Step is one thing to do or check. It has exactly one action: one of the
// keys of Check, or one of the pointer fields after it (stepKeys lists
// them in this order).
type Step struct {
	At   `json:"-"`
	Name string `json:"name,omitempty" doc:"The step's name in the output; default: what it does (\"ping red -> blue\")."`
	Check
	LinkDown      *Text            `json:"link-down,omitempty" doc:"Set a link down (both ends, as a pulled cable): its name (\"r1-r2\") or one of its ends (\"r1:eth1\")."`
	LinkUp        *Text            `json:"link-up,omitempty" doc:"Bring a link back up, with its addresses and routes; returns when it is ready."`
	IfaceDown     *Text            `json:"iface-down,omitempty" doc:"Set one end of a link down, node:iface: the other end stays up without a carrier, as when one side of a cable is unplugged."`
	IfaceUp       *Text            `json:"iface-up,omitempty" doc:"Bring one end back up, node:iface, with its addresses and routes; returns when its link is ready (if the other end is up)."`
	Impair        *ImpairStep      `json:"impair,omitempty" doc:"Replace a link's impairments: both, a-b, b-a (a direction not given is not impaired), or none: true."`
	Flap          *FlapStep        `json:"flap,omitempty" doc:"Take a link down for down, then up for up, times times; the step lasts that long."`
	Partition     *PartitionStep   `json:"partition,omitempty" doc:"Cut nodes off from the rest: every link between them and the others goes down, and their LAN attachments where a LAN has members on both sides. A list of nodes, or {name, nodes} to heal it by name."`
	Isolate       *Text            `json:"isolate,omitempty" doc:"Cut one node off from every other (a partition of one node, named after it)."`
	Heal          *HealStep        `json:"heal,omitempty" doc:"Undo partitions: true (every one in place) or a name (a partition's name, or the node of an isolate step); brings exactly those links back up and returns when they are ready."`
	Start         *Text            `json:"start,omitempty" doc:"Start a process (all its instances, or one: NAME@NODE) and wait until it is ready."`
	Stop          *Text            `json:"stop,omitempty" doc:"Stop a process: SIGTERM, then SIGKILL after 5s."`
	Allow         *RuleStep        `json:"allow,omitempty" doc:"Add a firewall rule to a node that accepts the packets it matches (after the node's earlier rules: the first match wins)."`
	Deny          *RuleStep        `json:"deny,omitempty" doc:"Add a firewall rule that drops the packets it matches silently: a dial times out."`
	Reject        *RuleStep        `json:"reject,omitempty" doc:"Add a firewall rule that refuses the packets it matches (TCP reset, else ICMP port unreachable): a dial is refused."`
	DefaultDeny   *PolicyStep      `json:"default-deny,omitempty" doc:"Drop what no rule accepts, in the given directions of a node (all three by default). Loopback and IPv6 neighbour discovery stay allowed."`
	DefaultAllow  *PolicyStep      `json:"default-allow,omitempty" doc:"Accept what no rule matches again (the default), in the given directions."`
	FirewallClear *Text            `json:"firewall-clear,omitempty" doc:"Remove a node's rules, policies and NAT: everything nettest installed in its nftables."`
	Masquerade    *Text            `json:"masquerade,omitempty" doc:"NAT: packets leaving through node:iface take that interface's address (IPv4 and IPv6), and the answers come back."`
	SNAT          *SNATStep        `json:"snat,omitempty" doc:"NAT: packets from src leave a node with the address to, whatever interface they leave through."`
	PortForward   *PortForwardStep `json:"port-forward,omitempty" doc:"NAT: connections to port on any of a node's addresses go on to the address and port to; the server sees the real client."`
	NATClear      *Text            `json:"nat-clear,omitempty" doc:"Remove a node's NAT rules, leaving its firewall."`
	Capture       *CaptureStep     `json:"capture,omitempty" doc:"Start recording the frames crossing an interface (node:iface, or {iface, name}) to a pcapng file, for saw-packet and no-packet checks; it runs until capture-stop or the end."`
	CaptureStop   *Text            `json:"capture-stop,omitempty" doc:"Stop a capture, by its name; its frames can still be checked."`
	Eventually    *Eventually      `json:"eventually,omitempty" doc:"A check tried again until it passes or the time is up."`
}

// Check is a step that checks something; eventually takes one.
type Check struct {
	Ping      *PingStep   `json:"ping,omitempty" doc:"Every echo request is answered (ping(8) from inside a node)."`
	NoPing    *PingStep   `json:"no-ping,omitempty" doc:"No echo request is answered."`
	Dial      *DialStep   `json:"dial,omitempty" doc:"A TCP connection or UDP exchange, expected to open, be refused or time out."`
	Route     *RouteStep  `json:"route,omitempty" doc:"The route a node's kernel chooses for a destination (ip route get)."`
	Exec      *ExecStep   `json:"exec,omitempty" doc:"Run a command inside a node and check its exit code and output. Its output is printed."`
	SawPacket *PacketStep `json:"saw-packet,omitempty" doc:"At least one frame a capture has recorded so far matches (running or stopped)."`
	NoPacket  *PacketStep `json:"no-packet,omitempty" doc:"No frame a capture has recorded so far matches; a capture that dropped frames fails it."`
}

// Eventually retries a check.
type Eventually struct {
	At     `json:"-"`
	Within Duration `json:"within,required" doc:"How long to keep trying: \"5s\"."`
	Every  Duration `json:"every,omitempty" doc:"Time between tries. Default: 100ms."`
	Step   Check    `json:"step,required" doc:"The check: one of ping, no-ping, dial, route, exec, saw-packet, no-packet."`
}

// PingStep is a ping or no-ping check.
type PingStep struct {
	At      `json:"-"`
	From    Text     `json:"from,required" doc:"The node that pings, or node:iface to ping from that interface's address."`
	To      Text     `json:"to,required" doc:"A node (its first address of each family), node:iface, or an address (10.1.1.2, 127.0.0.1)."`
	Count   int      `json:"count,omitempty" doc:"Echo requests to send. Default: 1." min:"1"`
	Family  Text     `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the target has." enum:"ipv4,ipv6,both"`
	Timeout Duration `json:"timeout,omitempty" doc:"How long each request waits for its reply. Default: 1s."`
}

// DialStep is a dial check.
type DialStep struct {
	At      `json:"-"`
	From    Text     `json:"from,required" doc:"The node that dials (node:iface: from that interface's address)."`
	To      Text     `json:"to,required" doc:"A node, node:iface or an address."`
	Port    int      `json:"port,required" doc:"The port, 1 to 65535." min:"1" max:"65535"`
	Proto   Text     `json:"proto,omitempty" doc:"tcp (the default) or udp (a datagram that must be answered, by an echo process say)." enum:"tcp,udp"`
	Expect  Text     `json:"expect,omitempty" doc:"open (the default), refused (TCP reset or ICMP port unreachable) or timeout (no answer)." enum:"open,refused,timeout"`
	Family  Text     `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the target has." enum:"ipv4,ipv6,both"`
	Timeout Duration `json:"timeout,omitempty" doc:"How long the dial waits. Default: 1s."`
}

// RouteStep is a route check: give one of via, dev, src or none.
type RouteStep struct {
	At     `json:"-"`
	Node   Text `json:"node,required" doc:"The node whose kernel is asked."`
	To     Text `json:"to,required" doc:"The destination: a node, node:iface, an address or a prefix."`
	Via    Text `json:"via,omitempty" doc:"Expected gateway: an address, a node (any of its addresses) or node:iface."`
	Dev    Text `json:"dev,omitempty" doc:"Expected outgoing interface."`
	Src    Text `json:"src,omitempty" doc:"Expected source address: an address, a node or node:iface."`
	None   bool `json:"none,omitempty" doc:"true: the node has no route to it."`
	Family Text `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the destination has." enum:"ipv4,ipv6,both"`
}

// ExecStep runs a command in a node.
type ExecStep struct {
	At      `json:"-"`
	Node    Text     `json:"node,required" doc:"The node to run it in; its hostname there is the node's name and /etc/hosts names every node."`
	Command *Command `json:"command,required" doc:"A list (argv) or a string: \"ip addr\" (split into words), \"ping -c1 h2 && hostname\" (shell syntax: run by sh -c)."`
	Exit    *int     `json:"exit,omitempty" doc:"The exit code expected. Default: 0."`
	Stdout  *Match   `json:"stdout,omitempty" doc:"What its standard output must hold."`
	Stderr  *Match   `json:"stderr,omitempty" doc:"What its standard error must hold."`
	Timeout Duration `json:"timeout,omitempty" doc:"How long it may run before it is stopped and the step fails. Default: 30s."`
}

// Match is an expectation on a command's output.
type Match struct {
	At          `json:"-"`
	Contains    StringList `json:"contains,omitempty" doc:"Text (or a list of texts) the output must contain."`
	NotContains StringList `json:"not-contains,omitempty" doc:"Text (or texts) it must not contain."`
	Regex       Text       `json:"regex,omitempty" doc:"A regular expression (RE2) the output must match; (?m) makes ^ and $ match at lines."`
}
