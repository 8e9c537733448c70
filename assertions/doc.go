// Package assertions checks a live [nettest.Network] from inside its nodes
// and reports on a test: ICMP ping, TCP and UDP dials, the routes a node's
// kernel chose, and the reachability of every pair of a set of nodes.
//
// Every function takes a [TestingT] (a *testing.T, or anything with testify's
// assert.TestingT shape), reports a failure with Errorf, returns whether the
// check passed, and calls Helper when the TestingT has it, so a failure
// points at the test's line. Package [github.com/nettestlab/nettest/assertions/must]
// has the same functions, which stop the test at the first failure, as
// testify's require does for assert.
//
//	assertions.Ping(t, n, "h1", "h2")                        // every address family h2 has
//	assertions.NoPing(t, n, "h1", "h3:eth1", assertions.IPv6())
//	assertions.CanDial(t, n, "h1", "tcp", "h2", 8080)
//	assertions.NoDial(t, n, "h1", "udp", "h2", 53, assertions.Refused())
//	assertions.RouteVia(t, n, "r1", "198.18.4.0/24", "r2")  // any of r2's addresses
//	assertions.Reachable(t, n, []string{"h1", "h2", "h3"})  // pingall, concurrently
//	assertions.SawPacket(t, capture, assertions.Match{ICMP: "echo-reply"})
//	assertions.NoPacket(t, capture, assertions.Match{Proto: "tcp", DstPort: 22})
//
// Every check runs inside the source node's namespace, as the node's own
// programs would. Nodes are named as in the topology; a target is a node
// ("h2": its first address of each family), an interface ("h2:eth1": that
// interface's first address of each family) or an address ("198.18.0.14").
// A name the network does not know fails the check with the names it has.
//
// Checks take options: [Count], [Interval] and [Timeout] for pings, [IPv4]
// and [IPv6] to choose the family, [Refused] and [TimedOut] for NoDial,
// [Context] to stop a check when a context ends (a Ctrl-C, a deadline).
// Each family of checks has an option type of its own ([PingOption],
// [DialOption], [NoDialOption], [RouteOption], [PacketOption]), so an option
// given to a check it does not apply to is a compile error. Negative checks
// are named No...: NoPing, NoDial, NoRoute, NoPacket.
// With [Within], a check becomes an "eventually" check: it is retried
// every [Every] (100ms) until it passes or the time is up, and then its
// failure says what it last saw:
//
//	route to 198.18.4.0/24 on r1: still via 198.18.0.2 after 5s, want via 198.18.1.2 (r1's route: 198.18.4.0/24 via 198.18.0.2 dev eth0)
//
// Failure messages say what was seen, and where it helps, how the source's
// kernel routes the destination:
//
//	ping h1 -> h2 (198.18.0.14): 0/3 replies within 1s; h1's kernel routes it: 198.18.0.14 via 198.18.0.2 dev eth0 src 198.18.0.1
//
// Package assertions imports nettest and no testing package; it must never
// import fixtures (which may import it) or the testing package.
package assertions
