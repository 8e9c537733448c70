// Package ready decides whether a network namespace's interfaces are
// ready to carry packets, from what its kernel reports over rtnetlink:
// operstate, IPv6's IF_READY flag, the solicited-node groups of IPv6
// addresses, and a usable IPv6 link-local address.
//
// It reads through a netlink socket its caller opened in the namespace and
// changes nothing. Which interfaces should be up, and how long to wait, is
// the caller's (package nettest's waitReady). It must never import a
// package of nettest (nettest, fixtures, assertions, ...): the engine
// imports it.
package ready
