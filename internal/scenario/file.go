package scenario

// The Go types of a scenario file. The decoder (decode.go) and the JSON
// Schema (schema.go) both read them: json tags name the keys, "required"
// marks the keys that must be there, doc tags describe them. Each kind of
// step has its type in the steps_*.go file of its family (doc.go says how
// to add one).

// File is a scenario file: a topology and the steps to run on it.
type File struct {
	At          `json:"-"`
	Name        Text     `json:"name" doc:"Names the scenario and its topology: letters, digits, '-' and '_', at most 32 bytes. Persisted namespaces are named nettest-NAME.NODE. Default: the file's name without .yaml."`
	Description string   `json:"description,omitempty" doc:"What the scenario shows; printed by nothing, for readers."`
	Requires    []Text   `json:"requires,omitempty" doc:"What the scenario needs: programs looked up in PATH (ping, bird) and kernel features written kernel:FEATURE (kernel:netem, kernel:tun, kernel:nftables, kernel:bridge, kernel:veth ...). When one is missing, nettest-run run skips the scenario saying what to install; with NETTEST_REQUIRE_TOOLS=1 a missing program fails it instead."`
	Params      Params   `json:"params,omitempty" doc:"Parameters and their defaults, NAME: value. ${NAME} anywhere in the file is replaced by the value; nettest-run --set NAME=VALUE changes it. $${X} is a literal ${X}."`
	Topology    Topology `json:"topology,required" doc:"The network: nodes, links, LANs, routes, daemons, processes."`
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
	Routes    RouteTable    `json:"routes,omitempty" doc:"Static routes per node, in ip-route syntax: \"default via 10.0.0.1\", \"10.2.0.0/16 via r2 metric 100\", \"default via r1\" (a gateway named by its node), \"default via r3 table 100\" (in routing table 100, for rules)."`
	Rules     RuleTable     `json:"rules,omitempty" doc:"Policy-routing rules per node, in ip-rule syntax, installed in order (priority 1000, 1001 ... unless given): \"from h2 table 100\" (h2's addresses), \"from 10.0.0.0/8 to r3:lo lookup 100\", \"iif eth0 table 200 priority 50\", \"fwmark 0x1 table 300\". The tables' routes are given in routes with \"table N\"."`
	Auto      *AutoSpec     `json:"auto,omitempty" doc:"What the harness fills in: addresses on links and LANs given none (on by default), routes along shortest paths (off by default)."`
	Firewall  FirewallTable `json:"firewall,omitempty" doc:"Packet filters per node, node: [entries], installed after the build and before the processes start: allow, deny, reject (rules, checked in order, the first match wins), default-deny, default-allow (policies). Each entry is written as the step of that name, without its node."`
	NAT       NATTable      `json:"nat,omitempty" doc:"Address translation per node (routers), node: [entries], installed after the build and before the processes start: masquerade: IFACE, snat, port-forward. Each entry is written as the step of that name, without its node."`
	Daemons   DaemonTable   `json:"daemons,omitempty" doc:"Daemons per node, node: [entries] — frr, bird, or daemon (any other) — started after the firewall and NAT and before the processes, each with its default paths in the node's own /etc, /run and /var/tmp, waited for until ready, stopped at the end."`
	Processes []Process     `json:"processes,omitempty" doc:"Programs to run inside nodes, started after the topology is built (unless start: false), each waited for as its ready key says, stopped at the end."`
}

// NodeSpec is a host or router. In the file it is a name (a host) or a mapping.
type NodeSpec struct {
	At       `json:"-"`
	Name     Text              `json:"name,required" doc:"The node's name: letters, digits, '-' and '_', at most 63 bytes; its hostname inside processes."`
	Kind     Text              `json:"kind,omitempty" doc:"host (the default: no forwarding) or router (IPv4 and IPv6 forwarding on)." enum:"host,router"`
	Sysctls  map[string]string `json:"sysctls,omitempty" doc:"net.* sysctls written inside the node, as sysctl(8) names them: net.ipv4.ip_default_ttl: 255."`
	Loopback *LoopbackSpec     `json:"loopback,omitempty" doc:"Router-ID addresses on the node's lo (/32, /128), reached by automatic routes and named NODE:lo in steps: auto (one per family from 198.19.240.0/20 and the ULA's last /64), or the addresses: [10.255.0.1, \"fd00:255::1\"]. Default: none (see auto: loopbacks)."`
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
	At        `json:"-"`
	IPv4      *bool `json:"ipv4,omitempty" doc:"A /30 per link from 198.18.0.0/16, a /24 per LAN from 198.19.0.0/16, where no address is given. Default: true."`
	IPv6      *bool `json:"ipv6,omitempty" doc:"A /64 per link or LAN from fdf6:fd81:8f7e::/48, where no address is given. Default: true."`
	Routes    *bool `json:"routes,omitempty" doc:"Static routes on every node along shortest paths, so that every address reaches every other (only routers forward); routes given in routes: win. Default: false."`
	Loopbacks *bool `json:"loopbacks,omitempty" doc:"Every router without a loopback key gets loopback: auto. Default: false."`
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
