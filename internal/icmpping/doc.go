// Package icmpping is a minimal ICMP echo for the engine's own tests and the
// seed example: one echo request from inside a node, over an ICMP datagram
// socket (golang.org/x/net/icmp), so that the kernel keeps the replies of
// concurrent pings apart by echo ID. The assertions package builds the full
// ping on top of the same idea.
//
// It imports nettest and no testing package.
package icmpping
