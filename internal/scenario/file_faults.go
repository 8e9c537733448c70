package scenario

// The Go types of a topology's impairments, firewalls and NAT (file.go
// has the rest). An entry of the topology's firewall or nat is written as
// the step of the same name without its node: the steps' types, in
// steps_firewall.go, share their fields with those below.

// ImpairSpec is a link's impairments in the topology.
type ImpairSpec struct {
	At `json:"-"`
	Directions
}

// Directions are a link's impairments, per direction.
type Directions struct {
	Both *ImpairmentSpec `json:"both,omitempty" doc:"The same impairment both ways (each direction gets its own random source)."`
	AB   *ImpairmentSpec `json:"a-b,omitempty" doc:"From the link's first endpoint to its second."`
	BA   *ImpairmentSpec `json:"b-a,omitempty" doc:"From the link's second endpoint to its first."`
}

// ImpairmentSpec is one direction's impairment.
type ImpairmentSpec struct {
	At              `json:"-"`
	Delay           Duration `json:"delay,omitempty" doc:"Every packet is held this long: \"20ms\"."`
	Jitter          Duration `json:"jitter,omitempty" doc:"The delay varies uniformly by up to this much either way (at most the delay); packets leave in the order of their delayed times."`
	Loss            Fraction `json:"loss,omitempty" doc:"Packets dropped at random: \"1%\" or 0.01."`
	LossCorrelation Fraction `json:"loss-correlation,omitempty" doc:"Losses come in bursts: each loss decision is this much the previous one (netem's model). Needs loss."`
	Duplicate       Fraction `json:"duplicate,omitempty" doc:"Packets sent twice."`
	Reorder         Fraction `json:"reorder,omitempty" doc:"Packets sent at once, ahead of the delayed ones. Needs delay."`
	Corrupt         Fraction `json:"corrupt,omitempty" doc:"Packets with one random bit flipped."`
	Rate            Rate     `json:"rate,omitempty" doc:"A limit in bits per second: \"10mbit\", \"500kbit\", \"1gbit\", or a number. Up to a second's worth of packets wait in the queue."`
	Seed            int      `json:"seed,omitempty" doc:"Seeds the userspace mechanism's random source, so that a run's losses and delays are the same every time. Default: from the link's name."`
}

// RuleSpec is what a firewall rule matches. Every key given must match;
// no key matches every packet coming in.
type RuleSpec struct {
	Direction   Text `json:"direction,omitempty" doc:"input (the default: packets to the node), output (packets it sends) or forward (packets a router passes on)." enum:"input,output,forward"`
	Family      Text `json:"family,omitempty" doc:"ipv4 or ipv6; default: both (addresses and icmp/icmpv6 imply one)." enum:"ipv4,ipv6"`
	Proto       Text `json:"proto,omitempty" doc:"tcp, udp, icmp (IPv4) or icmpv6; default: any." enum:"tcp,udp,icmp,icmpv6"`
	Src         Text `json:"src,omitempty" doc:"Source address: a prefix (10.0.0.0/24) or an address (10.0.0.1)."`
	Dst         Text `json:"dst,omitempty" doc:"Destination address: a prefix or an address."`
	SrcPort     int  `json:"sport,omitempty" doc:"Source port (proto tcp or udp)." min:"1" max:"65535"`
	DstPort     int  `json:"dport,omitempty" doc:"Destination port (proto tcp or udp)." min:"1" max:"65535"`
	ICMPType    Text `json:"icmp-type,omitempty" doc:"ICMP or ICMPv6 message type, as nftables names it (proto icmp or icmpv6): echo-request, echo-reply, destination-unreachable, nd-neighbor-solicit ..."`
	InIface     Text `json:"in-iface,omitempty" doc:"The interface packets come in on (input, forward)."`
	OutIface    Text `json:"out-iface,omitempty" doc:"The interface packets leave through (output, forward)."`
	Established bool `json:"established,omitempty" doc:"true: only packets of connections already seen both ways, and the ICMP errors they cause: the answers to the node's own connections under default-deny."`
}

// FirewallRule is a rule in the topology's firewall.
type FirewallRule struct {
	At `json:"-"`
	RuleSpec
}

// PolicySpec sets the default policy of directions.
type PolicySpec struct {
	At        `json:"-"`
	Direction StringList `json:"direction,omitempty" doc:"input, output, forward, or a list of them. Default: all three."`
}

// FirewallEntry is one entry of a node's firewall in the topology.
type FirewallEntry struct {
	At           `json:"-"`
	Allow        *FirewallRule `json:"allow,omitempty" doc:"Accept the packets the rule matches."`
	Deny         *FirewallRule `json:"deny,omitempty" doc:"Drop them silently."`
	Reject       *FirewallRule `json:"reject,omitempty" doc:"Refuse them: TCP reset, else ICMP port unreachable."`
	DefaultDeny  *PolicySpec   `json:"default-deny,omitempty" doc:"Drop what no rule accepts: {} for every direction, {direction: input} for one."`
	DefaultAllow *PolicySpec   `json:"default-allow,omitempty" doc:"Accept what no rule matches (the default)."`
}

// SNATSpec rewrites source addresses.
type SNATSpec struct {
	Src Text `json:"src,required" doc:"The packets' source: a prefix (10.0.0.0/24) or an address."`
	To  Text `json:"to,required" doc:"The address they take (of src's family)."`
}

// SNATRule is an snat entry in the topology.
type SNATRule struct {
	At `json:"-"`
	SNATSpec
}

// PortForwardSpec is destination NAT of one port.
type PortForwardSpec struct {
	Proto Text `json:"proto,omitempty" doc:"tcp (the default) or udp." enum:"tcp,udp"`
	Port  int  `json:"port,required" doc:"The port, on any of the node's own addresses." min:"1" max:"65535"`
	To    Text `json:"to,required" doc:"Where to: \"10.0.0.2:80\", \"[fd00::2]:80\", or an address alone (the same port). Its family chooses the family forwarded."`
}

// PortForwardRule is a port-forward entry in the topology.
type PortForwardRule struct {
	At `json:"-"`
	PortForwardSpec
}

// NATEntry is one entry of a node's NAT in the topology.
type NATEntry struct {
	At          `json:"-"`
	Masquerade  *Text            `json:"masquerade,omitempty" doc:"The interface (eth1) whose address the packets leaving through it take."`
	SNAT        *SNATRule        `json:"snat,omitempty" doc:"Packets from src leave with the address to."`
	PortForward *PortForwardRule `json:"port-forward,omitempty" doc:"Connections to port go on to to."`
}
