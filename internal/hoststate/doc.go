// Package hoststate snapshots the network state of the namespace the test
// process runs in (the host's, or "root", network namespace) so that a test
// can prove that the harness changed nothing there: links, addresses, routes
// of every table, policy rules, forwarding-related sysctls, the nftables
// ruleset, the legacy iptables table names, and the named network namespaces
// under /run/netns. [Take] makes a [State], [Diff] compares two, [Check]
// wraps both for a test, and [ThreadsOutside] lists the threads of the
// process that are not in the host's namespace.
//
// Every reading is made against the host's namespace explicitly, through a
// handle on it that the package opens when it is initialized, on the main
// thread before any test runs: netlink and nftables sockets are opened in it,
// and /proc files are read on an OS thread locked for the purpose that joins
// it first and goes back afterwards. A thread of the process that a bug left
// in another namespace, even the main thread (which /proc/self/ns/net
// follows), cannot fool the snapshot. Taking a snapshot therefore
// needs the privilege to join a network namespace (CAP_SYS_ADMIN), as
// building a topology does; it changes nothing.
//
// Only fields that stay put by themselves are recorded: link operstate and
// carrier flags, address lifetimes, route expiry and cache entries, nftables
// counters and set element timers are left out, so that a quiet host gives
// equal snapshots.
//
// The package is for this repository's tests. It imports testing (for
// [Check]) and must never import nettest or any package built on it: it
// judges the engine, so it must not rely on it.
package hoststate
