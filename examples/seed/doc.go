// Command seed walks through the seed tutorial's Examples 1-5 with nettest:
// two network namespaces, red and blue, joined by a veth pair
// (veth-red <-> veth-blue), addressed 10.1.1.1/24 and 10.1.1.2/24, then
// `ip addr` inside red and pings both ways and on each loopback.
//
// Run it as root (it creates network namespaces; the host's own network is
// not touched, and nothing is left behind):
//
//	go run ./examples/seed
package main
