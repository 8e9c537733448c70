package scenario_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
)

// TestSysctlsChecked: validate catches, without privilege, a sysctl key
// this kernel does not have, an interface's key naming an interface the
// node lacks, and a number's value that is not one, each at its key or
// value; keys and values that are fine pass.
func TestSysctlsChecked(t *testing.T) {
	if _, err := os.Stat("/proc/sys/net/ipv4/ip_local_port_range"); err != nil {
		t.Skip("no /proc/sys/net here")
	}
	src := `name: p
topology:
  nodes:
    - name: a
      sysctls:
        net.ipv4.no_such_key: 1
        net.ipv4.ip_default_ttl: lots
        net.ipv4.conf.eth9.rp_filter: 2
        net.ipv4.ip_local_port_range: "1000 2000 3000"
        net.ipv4.conf.eth0.rp_filter: 2
        net.ipv4.conf.all.rp_filter: 0
        net.ipv4.ip_local_port_range: "10000 20000"
        net.ipv4.tcp_congestion_control: reno
    - b
  links:
    - endpoints: [a, b]
`
	// The same key twice is a YAML error; the last two are meant once.
	src = strings.Replace(src, `        net.ipv4.ip_local_port_range: "10000 20000"`+"\n", "", 1)
	want := []string{
		`t.yaml:6:9: node a: sysctl net.ipv4.no_such_key: no such key in this kernel (no /proc/sys/net/ipv4/no_such_key)`,
		`t.yaml:7:34: node a: sysctl net.ipv4.ip_default_ttl: value "lots": want an integer (it is "`,
		`t.yaml:8:9: node a: sysctl net.ipv4.conf.eth9.rp_filter: node a has no interface "eth9" (it has lo, eth0)`,
		`t.yaml:9:39: node a: sysctl net.ipv4.ip_local_port_range: value "1000 2000 3000": want up to 2 integers (it is "`,
	}
	got := parseErrs(t, src, nil)
	if len(got) != len(want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got  %s\nwant %s...", got[i], want[i])
		}
	}
}

// TestSetupSysctlRefused: when Build itself meets a sysctl the kernel
// refuses (CheckKernel not run), the setup's error is at the key, and the
// run says the input was invalid.
func TestSetupSysctlRefused(t *testing.T) {
	testenv.RequirePrivilege(t)
	s, err := scenario.Parse("t.yaml", []byte(`name: refused
topology:
  nodes:
    - name: a
      sysctls: {net.core.rmem_max: "1000000"}
    - b
  links:
    - endpoints: [a, b]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := scenario.NewRun(s, scenario.Options{})
	defer r.Close()
	err = r.Setup(context.Background())
	want := "t.yaml:5:17: node a: sysctl net.core.rmem_max: not writable in a node's network namespace (permission denied)"
	if err == nil || err.Error() != want || !r.InvalidInput() {
		t.Errorf("Setup: %v (invalid input: %v), want %s", err, r.InvalidInput(), want)
	}
}
