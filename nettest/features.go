package nettest

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Feature names a kernel capability nettest or its users may need.
type Feature string

// The features DetectFeatures probes.
const (
	FeatureIPv6     Feature = "ipv6"     // the IPv6 stack
	FeatureVeth     Feature = "veth"     // veth pairs: every link
	FeatureBridge   Feature = "bridge"   // Linux bridges: every LAN
	FeatureVXLAN    Feature = "vxlan"    // VXLAN tunnels
	FeatureDummy    Feature = "dummy"    // dummy interfaces
	FeatureVRF      Feature = "vrf"      // VRF devices
	FeatureMacvlan  Feature = "macvlan"  // macvlan interfaces
	FeatureIPVlan   Feature = "ipvlan"   // ipvlan interfaces
	FeatureTUN      Feature = "tun"      // TUN/TAP devices (/dev/net/tun)
	FeatureTBF      Feature = "tbf"      // the token bucket filter qdisc: rate limits
	FeatureNetem    Feature = "netem"    // the netem qdisc: delay, loss, reordering
	FeatureHTB      Feature = "htb"      // the HTB qdisc
	FeatureFQCodel  Feature = "fq_codel" // the fq_codel qdisc
	FeatureClsact   Feature = "clsact"   // the clsact qdisc: tc filters and BPF on both directions
	FeatureNFTables Feature = "nftables" // nf_tables: firewalls and NAT
)

// FeatureStatus is what the probe of one feature found.
type FeatureStatus struct {
	Feature Feature
	// Supported is true when the probe made the thing and the kernel took it.
	Supported bool
	// Reason says why not, with the kernel's error: "kernel lacks netem: not supported".
	Reason string
}

// Features is the result of probing the running kernel. Probing never
// guesses: a feature is supported when a throwaway namespace could make it,
// unsupported when the kernel said it does not know it, and an error
// otherwise.
type Features struct {
	status map[Feature]FeatureStatus
}

var (
	featuresOnce sync.Once
	features     *Features
	featuresErr  error
)

// DetectFeatures probes the kernel once per process, inside a throwaway
// network namespace (nothing is made in the caller's), and returns what it
// found. It needs the same privilege as Build.
func DetectFeatures() (*Features, error) {
	featuresOnce.Do(func() { features, featuresErr = probeFeatures() })
	return features, featuresErr
}

// Supported reports whether the kernel has f.
func (fs *Features) Supported(f Feature) bool { return fs.status[f].Supported }

// Status returns the probe's finding for f.
func (fs *Features) Status(f Feature) FeatureStatus {
	if st, ok := fs.status[f]; ok {
		return st
	}
	return FeatureStatus{Feature: f, Reason: "nettest does not probe " + string(f)}
}

// Require returns nil when the kernel has every feature named, else an error
// that wraps [ErrUnsupported] and names each missing one with the reason.
func (fs *Features) Require(want ...Feature) error {
	var missing []string
	for _, f := range want {
		if st := fs.Status(f); !st.Supported {
			missing = append(missing, st.Reason)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("nettest: %s: %w", strings.Join(missing, "; "), ErrUnsupported)
}

// List returns every probed feature's status, by name.
func (fs *Features) List() []FeatureStatus {
	var out []FeatureStatus
	for _, st := range fs.status {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b FeatureStatus) int { return strings.Compare(string(a.Feature), string(b.Feature)) })
	return out
}

// String lists the features as "veth yes", "netem no (kernel lacks ...)".
func (fs *Features) String() string {
	var b strings.Builder
	for _, st := range fs.List() {
		if st.Supported {
			fmt.Fprintf(&b, "%-9s yes\n", st.Feature)
		} else {
			fmt.Fprintf(&b, "%-9s no: %s\n", st.Feature, st.Reason)
		}
	}
	return b.String()
}

// unsupportedErr reports whether a probe's error means "the kernel does not
// know this": an unknown link kind or qdisc, a missing protocol.
func unsupportedErr(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) ||
		errors.Is(err, unix.ENODEV)
}

func probeFeatures() (*Features, error) {
	nss, err := newNamespaces([]func() [][2]string{func() [][2]string { return nil }}, nil, nil)
	if err != nil {
		return nil, err
	}
	ns := nss[0]
	defer ns.close()
	fs := &Features{status: map[Feature]FeatureStatus{}}
	var probeErrs []error
	record := func(f Feature, err error) {
		switch {
		case err == nil:
			fs.status[f] = FeatureStatus{Feature: f, Supported: true}
		case unsupportedErr(err):
			fs.status[f] = FeatureStatus{Feature: f, Reason: fmt.Sprintf("kernel lacks %s (%v)", f, err)}
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			// Not a kernel question: this process may not use it (rootless,
			// or a device node it cannot open).
			fs.status[f] = FeatureStatus{Feature: f, Reason: fmt.Sprintf("%s not permitted to this process (%v)", f, err)}
		default:
			fs.status[f] = FeatureStatus{Feature: f, Reason: fmt.Sprintf("probing %s failed: %v", f, err)}
			probeErrs = append(probeErrs, fmt.Errorf("probing %s: %w", f, err))
		}
	}
	h := ns.nl
	attrs := func(name string) netlink.LinkAttrs {
		a := netlink.NewLinkAttrs()
		a.Name = name
		return a
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		record(FeatureIPv6, fmt.Errorf("no /proc/sys/net/ipv6: %w", unix.EAFNOSUPPORT))
	} else {
		record(FeatureIPv6, nil)
	}
	vethErr := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs("probe0"), PeerName: "probe1"})
	record(FeatureVeth, vethErr)
	record(FeatureBridge, h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs("probebr")}))
	record(FeatureVXLAN, h.LinkAdd(&netlink.Vxlan{LinkAttrs: attrs("probevx"), VxlanId: 42, Port: 4789}))
	record(FeatureDummy, h.LinkAdd(&netlink.Dummy{LinkAttrs: attrs("probedummy")}))
	record(FeatureVRF, h.LinkAdd(&netlink.Vrf{LinkAttrs: attrs("probevrf"), Table: 10}))
	if vethErr == nil {
		parent, err := h.LinkByName("probe0")
		if err != nil {
			return nil, fmt.Errorf("nettest: probing features: %w", err)
		}
		mv := attrs("probemv")
		mv.ParentIndex = parent.Attrs().Index
		record(FeatureMacvlan, h.LinkAdd(&netlink.Macvlan{LinkAttrs: mv, Mode: netlink.MACVLAN_MODE_BRIDGE}))
		iv := attrs("probeiv")
		iv.ParentIndex = parent.Attrs().Index
		record(FeatureIPVlan, h.LinkAdd(&netlink.IPVlan{LinkAttrs: iv, Mode: netlink.IPVLAN_MODE_L2}))
	} else {
		for _, f := range []Feature{FeatureMacvlan, FeatureIPVlan} {
			fs.status[f] = FeatureStatus{Feature: f, Reason: fmt.Sprintf("cannot probe %s without veth", f)}
		}
	}
	record(FeatureTUN, ns.do(func() error {
		// A TUN device made from inside the namespace, not persisted: it
		// vanishes when the file is closed.
		return h.LinkAdd(&netlink.Tuntap{LinkAttrs: attrs("probetun"), Mode: netlink.TUNTAP_MODE_TUN, NonPersist: true, Queues: 1})
	}))
	// Qdiscs on lo, which every namespace has.
	lo := netlink.QdiscAttrs{LinkIndex: 1, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	qdisc := func(q netlink.Qdisc) error {
		if err := h.QdiscReplace(q); err != nil {
			return err
		}
		return h.QdiscDel(q)
	}
	record(FeatureTBF, qdisc(&netlink.Tbf{QdiscAttrs: lo, Rate: 1 << 20, Limit: 1 << 16, Buffer: 1 << 14}))
	record(FeatureNetem, qdisc(netlink.NewNetem(lo, netlink.NetemQdiscAttrs{Latency: 1000})))
	record(FeatureHTB, qdisc(netlink.NewHtb(lo)))
	record(FeatureFQCodel, qdisc(netlink.NewFqCodel(lo)))
	record(FeatureClsact, qdisc(&netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: 1, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}))
	record(FeatureNFTables, probeNFTables(ns))
	if len(probeErrs) > 0 {
		return fs, fmt.Errorf("nettest: probing kernel features: %w", errors.Join(probeErrs...))
	}
	return fs, nil
}

// probeNFTables lists nf_tables tables inside the probe namespace: a kernel
// without nf_tables has no such netlink subsystem.
func probeNFTables(ns *namespace) error {
	return ns.withFD(func(fd netns.NsHandle) error {
		c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
		if err != nil {
			return err
		}
		_, err = c.ListTables()
		return err
	})
}
