package scenario

import (
	"cmp"
	"context"
	"fmt"

	"github.com/nettestlab/nettest/assertions"
)

// The dial step.

// DialStep is a dial check.
type DialStep struct {
	At      `json:"-"`
	From    Text     `json:"from,required" doc:"The node that dials (node:iface: from that interface's address; node:lo: from its loopback address)."`
	To      Text     `json:"to,required" doc:"A node, node:iface, node:lo (its loopback) or an address."`
	Port    int      `json:"port,required" doc:"The port, 1 to 65535." min:"1" max:"65535"`
	Proto   Text     `json:"proto,omitempty" doc:"tcp (the default) or udp (a datagram that must be answered, by an echo process say)." enum:"tcp,udp"`
	Expect  Text     `json:"expect,omitempty" doc:"open (the default), refused (TCP reset or ICMP port unreachable) or timeout (no answer)." enum:"open,refused,timeout"`
	Family  Text     `json:"family,omitempty" doc:"ipv4, ipv6 or both. Default: every family the target has." enum:"ipv4,ipv6,both"`
	Timeout Duration `json:"timeout,omitempty" doc:"How long the dial waits. Default: 1s."`
}

func (dl *DialStep) value() any { return dl }

func (dl *DialStep) check(s *Scenario, l *errList) string {
	s.checkNode(l, dl.From, true)
	s.checkNode(l, dl.To, true)
	checkEnum(l, dl.Proto, "proto", "tcp", "udp")
	checkEnum(l, dl.Expect, "expect", "open", "refused", "timeout")
	checkEnum(l, dl.Family, "family", "ipv4", "ipv6", "both")
	if dl.Port < 1 || dl.Port > 65535 {
		l.add(dl.At.Of("port"), "port %d: want 1 to 65535", dl.Port)
	}
	return fmt.Sprintf("dial %s %s -> %s port %d: %s", cmp.Or(dl.Proto.V, "tcp"), dl.From.V, dl.To.V, dl.Port, cmp.Or(dl.Expect.V, "open"))
}

func (dl *DialStep) run(ctx context.Context, r *Run, t timing) ([]string, string) {
	rec := &recorder{}
	opts := append(t.options(ctx), familyOptions(dl.Family)...)
	proto := cmp.Or(dl.Proto.V, "tcp")
	if dl.Expect.V == "" || dl.Expect.V == "open" {
		dopts := append(asOptions[assertions.DialOption](opts), asOptions[assertions.DialOption](timeoutOptions(dl.Timeout))...)
		assertions.CanDial(rec, r.Network, dl.From.V, proto, dl.To.V, dl.Port, dopts...)
		return nil, rec.String()
	}
	nopts := append(asOptions[assertions.NoDialOption](opts), asOptions[assertions.NoDialOption](timeoutOptions(dl.Timeout))...)
	switch dl.Expect.V {
	case "refused":
		nopts = append(nopts, assertions.Refused())
	case "timeout":
		nopts = append(nopts, assertions.TimedOut())
	}
	assertions.NoDial(rec, r.Network, dl.From.V, proto, dl.To.V, dl.Port, nopts...)
	return nil, rec.String()
}
