// Package nettest builds disposable Linux network-namespace topologies for tests:
// hosts, routers and LAN switches joined by veth links, addressed (IPv4 and IPv6)
// and routed, and torn down without a trace.
//
// A [Topology] is a plain Go value; a [Builder] makes the common case short.
// [Build] turns a Topology into a live [Network] whose [Node]s run Go code
// inside their namespace ([Node.Do]), make sockets there ([Node.Listen],
// [Node.DialContext], [Node.HTTPClient]), ping ([Node.Ping]), answer route
// lookups ([Node.RouteGet], [Node.RouteMatch]), run programs ([Node.Command],
// [Node.ProgramCommand]), filter and translate ([Node.Firewall], [Node.NAT]),
// capture packets ([Node.Capture]) and lend netlink handles bound to their
// namespace ([Node.Netlink]). Links go down and up, impaired ([Link.Impair]:
// delay, loss, rate ...); [Network.Partition] cuts nodes off. [Network.Close]
// removes everything; after it every call on the network, its nodes and
// links fails with [ErrClosed], and nothing it handed out falls back to the
// caller's own namespace.
//
// Commands run under a small init process of nettest's: this binary, run
// again, which the package's initialisation recognises (an environment
// variable) and turns into the init of the command's own PID, mount and UTS
// namespaces before anything else of the program runs. So every binary that
// imports nettest can start commands in nodes; see [Cmd]. A node is a small
// machine: its programs see its own /run, /var/run, /tmp, /var/tmp and
// /var/log, and an /etc of its own over the host's, shared by every program
// of the node and kept in memory until [Network.Close] ([Node.WriteFile],
// [Node.ReadFile], [Node.FilePath]).
//
// Daemons are commands too: [Node.StartDaemon] starts one as a
// [DaemonSpec] says — its directories and templated configuration files in
// the node's own directories, its processes in order, each waited for —
// and [Daemon.Exec] sends it commands through its CLI. [FRR] and [BIRD]
// are ready-made specs that run those suites with their default paths.
// [Node.RouteTable] lists a node's routes with the protocol that installed
// each (ospf, bgp, bird, ...).
//
// The engine follows a few rules that make it safe on a developer's machine:
//
//   - Nothing is created or changed in the caller's (root) network namespace:
//     veth pairs are created directly inside their target namespaces and LAN
//     switches are bridges in a namespace of their own.
//   - Namespaces are anonymous, held by file descriptors, so the kernel reclaims
//     them even when the process is killed. Named namespaces (under /run/netns,
//     prefixed [NamePrefix]) exist only when asked for with [Network.Persist].
//   - Code that enters a namespace runs on a goroutine locked to its OS thread and
//     restores the thread's namespace before unlocking it, or lets the thread die.
//   - [Build] returns only when every interface is up (operstate checked) with
//     usable addresses: IPv6 duplicate address detection is off, so the first
//     packet after Build is delivered.
//   - Every configuration error is found before any kernel call and names the
//     node, link and field at fault.
//
// Package nettest imports no testing package; the fixtures and assertions
// packages build on it for go test. It must never import them.
package nettest
