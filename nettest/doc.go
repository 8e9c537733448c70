// Package nettest builds disposable Linux network-namespace topologies for tests:
// hosts, routers and LAN switches joined by veth links, addressed (IPv4 and IPv6)
// and routed, and torn down without a trace.
//
// A [Topology] is a plain Go value; a [Builder] makes the common case short.
// [Build] turns a Topology into a live [Network] whose [Node]s run Go code inside
// their namespace ([Node.Do]), answer route lookups ([Node.RouteGet]) and expose
// netlink handles bound to their namespace. [Network.Close] removes everything.
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
