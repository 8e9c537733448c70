// Package icmpping is the one-line ping the engine's own tests and the seed
// example use: one echo request from inside a node, through [nettest.Node.Ping]
// (an ICMP datagram socket, so that the kernel keeps the replies of
// concurrent pings apart by echo ID).
//
// It imports nettest and no testing package.
package icmpping
