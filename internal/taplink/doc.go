// Package taplink is nettest's userspace impaired link
// (MechanismUserspace): each end is a TAP device in its node, and a
// forwarder in this process reads the frames one end sends and writes them
// into the other, after the direction's impairment — delay, jitter, loss
// (correlated or not), duplication, reordering, corruption and rate, with
// no qdisc and no kernel module beyond tun. Each direction has its own
// random source, seeded from the impairment's Seed (or the link's name),
// so the same run drops and delays the same frames.
//
// It creates a TAP device in the calling thread's network namespace
// ([Open]; the caller enters the node first) and forwards between two
// open devices ([Start]); configuring the devices (address, MTU, up) is
// the caller's. It must never import a package of nettest (nettest,
// fixtures, assertions, ...): the engine imports it.
package taplink
