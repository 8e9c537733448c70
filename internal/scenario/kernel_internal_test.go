package scenario

import (
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/nettestlab/nettest/nettest"
)

const kernelSrc = `name: k
topology:
  nodes:
    - name: a
      sysctls: {net.ipv4.ip_default_ttl: "64", net.ipv4.conf.eth0.rp_filter: "2"}
    - b
    - c
  links:
    - endpoints: [a, b]
      impair-via: netem
      impair: {both: {delay: 10ms}}
    - endpoints: [b, c]
      impair: {both: {delay: 10ms}}
    - endpoints: [a, c]
  lans:
    - name: lan
      members: [a, b]
steps:
  - deny: {node: a, direction: input, proto: tcp}
`

// TestCheckFeatures: what a kernel lacks is reported at the key that
// needs it: impair-via, the link whose impairments no mechanism can make,
// lans, a firewall step.
func TestCheckFeatures(t *testing.T) {
	s, err := Parse("k.yaml", []byte(kernelSrc), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &errList{file: s.File}
	s.checkFeatures(l, func(f nettest.Feature) (bool, string) {
		switch f {
		case nettest.FeatureNetem, nettest.FeatureTUN, nettest.FeatureBridge, nettest.FeatureNFTables:
			return false, "kernel lacks " + string(f)
		}
		return true, ""
	})
	want := []string{
		"k.yaml:10:19: link a-b: impair-via netem needs netem, which this kernel lacks: kernel lacks netem",
		"k.yaml:12:7: link b-c: impaired by userspace (this kernel has no netem) needs tun, which this kernel lacks: kernel lacks tun",
		"k.yaml:16:5: a LAN needs bridge, which this kernel lacks: kernel lacks bridge",
		"k.yaml:19:5: step deny a input: meta l4proto tcp needs nftables, which this kernel lacks: kernel lacks nftables",
	}
	if got := l.err(); got == nil || got.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", got, strings.Join(want, "\n"))
	}
	l = &errList{file: s.File}
	s.checkFeatures(l, func(nettest.Feature) (bool, string) { return true, "" })
	if err := l.err(); err != nil {
		t.Errorf("every feature: %v", err)
	}
}

// TestBuildErrorPlaced: Build's errors that the file causes are placed at
// the key (exit 2 for the CLI); others are not.
func TestBuildErrorPlaced(t *testing.T) {
	s, err := Parse("k.yaml", []byte(kernelSrc), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The engine's errors, as Build makes them: ConfigErrors naming the
	// node's sysctl or the link, wrapping the cause.
	sysctl := func(key, path, op string, errno syscall.Errno) error {
		inner := fmt.Errorf("sysctl %s: %w", path, &fs.PathError{Op: op, Path: path, Err: errno})
		if op == "write" {
			inner = fmt.Errorf("sysctl %s = %q: %w", path, "64", &fs.PathError{Op: op, Path: path, Err: errno})
		}
		return fmt.Errorf("nettest: building k: %w", &nettest.ConfigError{Where: "node a", Problem: inner.Error(),
			Node: "a", NodeIndex: 0, LinkIndex: -1, LANIndex: -1, Member: -1, Route: -1, Sysctl: key, Field: "Value", Value: "64", Err: inner})
	}
	netem := fmt.Errorf("this kernel has no sch_netem: %w", nettest.ErrUnsupported)
	link := &nettest.ConfigError{Where: "link a-b", Problem: netem.Error(), NodeIndex: -1, Link: "a-b", LinkIndex: 0, LANIndex: -1,
		Member: -1, Route: -1, Field: "ImpairVia", Value: "netem", Err: netem}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{sysctl("net.ipv4.ip_default_ttl", "/proc/sys/net/ipv4/ip_default_ttl", "open", syscall.ENOENT), "k.yaml:5:17: node a: sysctl net.ipv4.ip_default_ttl: no such key in a node's network namespace"},
		{sysctl("net.ipv4.ip_default_ttl", "/proc/sys/net/ipv4/ip_default_ttl", "write", syscall.EINVAL), `k.yaml:5:42: node a: sysctl net.ipv4.ip_default_ttl: the kernel refused value "64" (invalid argument)`},
		{sysctl("net.ipv4.conf.eth0.rp_filter", "/proc/sys/net/ipv4/conf/eth0/rp_filter", "write", syscall.EINVAL), `k.yaml:5:78: node a: sysctl net.ipv4.conf.eth0.rp_filter: the kernel refused value "2" (invalid argument)`},
		{fmt.Errorf("nettest: %w", link), "k.yaml:10:19: link a-b: this kernel has no sch_netem: unsupported operation"},
		{fmt.Errorf("nettest: node b: creating veth: %w", syscall.ENOMEM), ""},
	} {
		got := s.inputError(tc.err)
		if (got == nil) != (tc.want == "") || got != nil && got.Error() != tc.want {
			t.Errorf("%v:\ngot  %v\nwant %s", tc.err, got, tc.want)
		}
	}
}
