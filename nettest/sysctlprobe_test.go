package nettest_test

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestTrySysctls: the kernel's answer to each sysctl, from a throwaway
// namespace: taken, no such key, a value refused, an interface's key tried
// on the defaults; the caller's namespace keeps its values.
func TestTrySysctls(t *testing.T) {
	testenv.RequirePrivilege(t)
	before, _ := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	errs, err := nettest.TrySysctls([][2]string{
		{"net.ipv4.ip_default_ttl", "99"},
		{"net.ipv4.no_such_key", "1"},
		{"net.ipv4.tcp_congestion_control", "no-such-algorithm"},
		{"net.ipv4.conf.eth7.rp_filter", "2"},
		{"net.ipv4.ip_default_ttl", "lots"},
		{"kernel.hostname", "x"},
	})
	require.NoError(t, err)
	require.Len(t, errs, 6)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], fs.ErrNotExist)
	var pe *fs.PathError
	require.True(t, errors.As(errs[1], &pe) && pe.Op == "open", "%v", errs[1])
	require.Error(t, errs[2])
	require.True(t, errors.As(errs[2], &pe) && pe.Op == "write", "%v", errs[2])
	require.NoError(t, errs[3], "an interface's key is tried on conf.default")
	require.ErrorIs(t, errs[4], syscall.EINVAL)
	require.NoError(t, errs[5], "keys Validate refuses are not tried")
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	require.Equal(t, string(before), string(after), "the caller's namespace is untouched")
}
