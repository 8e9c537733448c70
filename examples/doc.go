// Package examples holds the tests a user copies first, each runnable with
// go test (as root, or see the README's Privilege section):
//
//   - routing_test.go: routers and hosts in a few lines, static routes,
//     route and ping assertions, then failover when a link goes down;
//   - http_test.go: a Go HTTP server in one node, a client in another, two
//     routers between: the one-minute introduction for application developers;
//   - ospf_test.go: BIRD 2 running OSPF on five routers, convergence and
//     reconvergence after a link is cut;
//   - frr_test.go: FRR running OSPF (v2 and v3) on a ring of four routers,
//     failover and recovery, and eBGP between two ASes: one call per router,
//     a templated frr.conf, no path flags.
//
// The package has no code of its own; the examples live in its tests.
package examples
