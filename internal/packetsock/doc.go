// Package packetsock is the AF_PACKET socket behind nettest's captures:
// opened for one interface in promiscuous mode with kernel timestamps, as
// tcpdump opens one, read without blocking, and asked for the frames the
// kernel dropped.
//
// It makes the socket in the calling thread's network namespace: its
// caller (package nettest's Capture) enters the node first. It must never
// import a package of nettest (nettest, fixtures, assertions, ...): the
// engine imports it.
package packetsock
