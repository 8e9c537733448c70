package nettest_test

import (
	"bufio"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// configSymbol maps each probed feature to the kernel config symbol that
// provides it.
var configSymbol = map[nettest.Feature]string{
	nettest.FeatureIPv6:     "CONFIG_IPV6",
	nettest.FeatureVeth:     "CONFIG_VETH",
	nettest.FeatureBridge:   "CONFIG_BRIDGE",
	nettest.FeatureVXLAN:    "CONFIG_VXLAN",
	nettest.FeatureDummy:    "CONFIG_DUMMY",
	nettest.FeatureVRF:      "CONFIG_NET_VRF",
	nettest.FeatureMacvlan:  "CONFIG_MACVLAN",
	nettest.FeatureIPVlan:   "CONFIG_IPVLAN",
	nettest.FeatureTUN:      "CONFIG_TUN",
	nettest.FeatureTBF:      "CONFIG_NET_SCH_TBF",
	nettest.FeatureNetem:    "CONFIG_NET_SCH_NETEM",
	nettest.FeatureHTB:      "CONFIG_NET_SCH_HTB",
	nettest.FeatureFQCodel:  "CONFIG_NET_SCH_FQ_CODEL",
	nettest.FeatureClsact:   "CONFIG_NET_SCH_INGRESS",
	nettest.FeatureNFTables: "CONFIG_NF_TABLES",
}

// TestFeaturesMatchKernelConfig checks every probe against the running
// kernel's own config (/proc/config.gz) when the kernel publishes it: a
// built-in feature must probe as supported, one "not set" as unsupported.
func TestFeaturesMatchKernelConfig(t *testing.T) {
	testenv.RequirePrivilege(t)
	fs, err := nettest.DetectFeatures()
	require.NoError(t, err)
	require.Len(t, fs.List(), len(configSymbol), "every probed feature has a config symbol here")
	require.True(t, fs.Supported(nettest.FeatureVeth), "nettest cannot work without veth")
	t.Logf("features:\n%s", fs)

	config := kernelConfig(t)
	if config == nil {
		t.Skip("the kernel publishes no /proc/config.gz to check the probes against")
	}
	for f, sym := range configSymbol {
		if strings.Contains(fs.Status(f).Reason, "not permitted") {
			continue // a question of privilege (rootless), not of the kernel
		}
		switch config[sym] {
		case "y":
			require.True(t, fs.Supported(f), "%s is built in (%s=y) but probed unsupported: %s", f, sym, fs.Status(f).Reason)
		case "":
			require.False(t, fs.Supported(f), "%s is not set in the kernel config but probed supported", f)
			require.Contains(t, fs.Status(f).Reason, "kernel lacks "+string(f))
		}
	}
}

// TestFeaturesRequire: Require passes for what the kernel has and wraps
// ErrUnsupported, naming the feature, for what it lacks.
func TestFeaturesRequire(t *testing.T) {
	testenv.RequirePrivilege(t)
	fs, err := nettest.DetectFeatures()
	require.NoError(t, err)
	require.NoError(t, fs.Require(nettest.FeatureVeth, nettest.FeatureBridge))
	var missing []nettest.Feature
	for _, st := range fs.List() {
		if !st.Supported {
			missing = append(missing, st.Feature)
		}
	}
	if len(missing) == 0 {
		t.Skip("this kernel has every probed feature; the unsupported path cannot be seen here")
	}
	err = fs.Require(nettest.FeatureVeth, missing[0])
	require.ErrorIs(t, err, nettest.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, "kernel lacks "+string(missing[0]))
	require.False(t, fs.Status("warp-drive").Supported)
	require.ErrorContains(t, fs.Require("warp-drive"), "nettest does not probe warp-drive")
}

// kernelConfig reads /proc/config.gz into symbol -> value ("y", "m", or ""
// for "is not set"); nil when the kernel does not publish it.
func kernelConfig(t *testing.T) map[string]string {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return nil
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err)
	out := map[string]string{}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		line := sc.Text()
		if sym, ok := strings.CutPrefix(line, "# "); ok && strings.HasSuffix(sym, " is not set") {
			out[strings.TrimSuffix(sym, " is not set")] = ""
		} else if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	require.NoError(t, sc.Err())
	return out
}
