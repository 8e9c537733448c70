// Package nftrules is nettest's nftables mechanism: it renders a node's
// firewall and NAT rules into google/nftables expressions and the nft(8)
// text nettest stores as their comments, knows nettest's table and its
// chains (creating them, setting policies, reading them back), and holds
// the tables of ICMP and ICMPv6 type names.
//
// It works on a *nftables.Conn its caller opened in a node's namespace
// (see [Dial]) and never enters a namespace itself. It renders valid rules
// only: checking what a user wrote, and saying which node and field is
// wrong, is the engine's job (package nettest).
//
// It must never import a package of nettest above it (nettest, fixtures,
// assertions, internal/scenario, ...): the engine imports it, not the
// other way round.
package nftrules
