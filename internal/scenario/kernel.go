package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/nettestlab/nettest/nettest"
)

// CheckKernel checks, before anything is built, what only this kernel can
// answer: that each node's sysctls exist in a network namespace and take
// their values (written in a throwaway namespace, nettest.TrySysctls), and
// that it has the features the links, LANs, firewalls and NAT need
// (nettest.DetectFeatures). Problems are Errors at their keys; an error of
// another type says the probing itself failed. It needs the privilege
// Build needs.
func (s *Scenario) CheckKernel() error {
	l := &errList{file: s.File}
	if len(s.sysctls) > 0 {
		kv := make([][2]string, len(s.sysctls))
		for i, sc := range s.sysctls {
			kv[i] = [2]string{sc.key, sc.value}
		}
		errs, err := nettest.TrySysctls(kv)
		if err != nil {
			return fmt.Errorf("%s: checking the sysctls: %w", s.File, err)
		}
		for i, err := range errs {
			if err != nil {
				s.sysctlError(l, s.sysctls[i], err)
			}
		}
	}
	fs, err := nettest.DetectFeatures()
	if err != nil {
		return fmt.Errorf("%s: probing the kernel's features: %w", s.File, err)
	}
	s.checkFeatures(l, func(f nettest.Feature) (bool, string) {
		st := fs.Status(f)
		return st.Supported, st.Reason
	})
	return l.err()
}

// sysctlError reports what the kernel said of a sysctl: at the key when
// it has no such key, else at the value.
func (s *Scenario) sysctlError(l *errList, sc sysctlAt, err error) {
	var errno syscall.Errno
	var pe *fs.PathError
	opening := errors.As(err, &pe) && pe.Op == "open"
	switch {
	case opening && errors.Is(err, fs.ErrNotExist):
		l.add(sc.at.key, "node %s: sysctl %s: no such key in a node's network namespace", sc.node, sc.key)
	case opening && errors.As(err, &errno):
		l.add(sc.at.key, "node %s: sysctl %s: not writable in a node's network namespace (%v)", sc.node, sc.key, errno)
	case errors.As(err, &errno):
		l.add(sc.at.val, "node %s: sysctl %s: the kernel refused value %q (%v)", sc.node, sc.key, sc.value, errno)
	default:
		l.add(sc.at.val, "node %s: sysctl %s: %v", sc.node, sc.key, err)
	}
}

// featureCheck says whether the kernel has a feature, and if not why.
type featureCheck func(nettest.Feature) (bool, string)

// checkFeatures reports what the topology and steps need that the kernel
// lacks: veth for links, bridges for LANs, nf_tables for firewalls and
// NAT, and each link's impairment mechanism (netem; tbf and nf_tables;
// TUN for userspace), as the engine would choose it.
func (s *Scenario) checkFeatures(l *errList, has featureCheck) {
	t := &s.Spec.Topology
	need := func(p Pos, f nettest.Feature, what string) bool {
		if ok, why := has(f); !ok {
			l.add(p, "%s needs %s, which this kernel lacks: %s", what, f, why)
			return false
		}
		return true
	}
	if len(t.Links) > 0 {
		need(t.At.Of("links"), nettest.FeatureVeth, "a link")
	}
	if len(t.LANs) > 0 {
		need(t.At.Of("lans"), nettest.FeatureBridge, "a LAN")
	}
	if len(t.Firewall.PerNode) > 0 {
		need(t.At.Of("firewall"), nettest.FeatureNFTables, "a firewall")
	}
	if len(t.NAT.PerNode) > 0 {
		need(t.At.Of("nat"), nettest.FeatureNFTables, "NAT")
	}
	// Each link's impairments: the topology's, then its impair steps'.
	later := map[string][]nettest.Impairments{}
	nftReported := false
	for _, st := range s.Steps {
		if im, ok := st.Spec.action().(*ImpairStep); ok {
			if name := s.checkLink(&errList{}, im.Link); name != "" {
				later[name] = append(later[name], im.imp)
			}
		}
		if c, ok := st.Spec.action().(changer); ok && c.change() != nil && !nftReported {
			nftReported = !need(st.Spec.At.Pos, nettest.FeatureNFTables, "step "+st.Name)
		}
	}
	netem, _ := has(nettest.FeatureNetem)
	for i, name := range s.idx.linkNames {
		sp := s.idx.linkSegs[s.idx.links[name]]
		via := s.linkVia(name)
		// The engine's own decision, on this kernel; an impair-via given
		// is what the link needs, whatever this kernel has.
		m, err := nettest.ImpairmentMechanism(via, s.Topology.Links[i].Impair, later[name], netem || via == nettest.MechanismNetem)
		if err != nil {
			l.add(cmp.Or(sp.via, sp.pos), "link %s: %v", name, err)
			continue
		}
		what := "link " + name + ": impair-via " + string(via)
		if via == "" {
			what = "link " + name + ": impaired by " + string(m)
			if !netem {
				what += " (this kernel has no netem)"
			}
		}
		for _, f := range m.Needs() {
			if !need(cmp.Or(sp.via, sp.pos), f, what) {
				break
			}
		}
	}
}

// inputError places an error of Build that the file is the cause of at
// the key that caused it, by the element its ConfigError names: a sysctl
// the kernel would not take, a feature a link needs. It returns nil for
// other errors (the machine's).
func (s *Scenario) inputError(err error) error {
	l := &errList{file: s.File}
	var ce *nettest.ConfigError
	isConfig := errors.As(err, &ce)
	if isConfig && ce.Sysctl != "" {
		for _, sc := range s.sysctls {
			if sc.node == ce.Node && sc.key == ce.Sysctl {
				s.sysctlError(l, sc, err)
				return l.err()
			}
		}
	}
	if !errors.Is(err, nettest.ErrUnsupported) {
		return nil
	}
	if isConfig {
		p := s.idx.top
		if sp, ok := nth(s.idx.linkSegs, ce.LinkIndex); ok {
			p = cmp.Or(sp.via, sp.pos)
		}
		l.add(p, "%s", ce.Error())
		return l.err()
	}
	l.add(s.idx.top, "%s", strings.TrimPrefix(err.Error(), "nettest: "))
	return l.err()
}
