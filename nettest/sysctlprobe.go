package nettest

import "strings"

// TrySysctls writes net.* sysctls (sysctl(8) name and value pairs) in a
// throwaway network namespace, in order, as Build writes a node's, and
// returns the kernel's answer to each: nil when it took the value, else
// the error (wrapping fs.ErrNotExist for a key the kernel does not have
// in a network namespace, the errno for a value it refused). An
// interface's key (net.ipv4.conf.eth0.rp_filter) is tried on the
// namespace's defaults (conf.default.rp_filter), as no interface of that
// name exists there. Keys Validate refuses are not tried (nil). Nothing is
// made in the caller's namespace; it needs the privilege Build needs.
func TrySysctls(sysctls [][2]string) ([]error, error) {
	nss, err := newNamespaces([]func() [][2]string{func() [][2]string { return nil }}, nil, nil)
	if err != nil {
		return nil, err
	}
	ns := nss[0]
	defer ns.close()
	out := make([]error, len(sysctls))
	err = ns.do(func() error {
		for i, kv := range sysctls {
			path, err := sysctlPath(kv[0])
			if err != nil {
				continue
			}
			out[i] = writeSysctl(defaultIfaceSysctl(path), kv[1])
		}
		return nil
	})
	return out, err
}

// defaultIfaceSysctl turns the file of an interface's sysctl
// (/proc/sys/net/ipv4/conf/eth0/x, .../neigh/eth0/x) into the same of the
// namespace's defaults; other files stay as they are.
func defaultIfaceSysctl(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/proc/sys/"), "/")
	if len(parts) != 5 || parts[0] != "net" || parts[1] != "ipv4" && parts[1] != "ipv6" || parts[2] != "conf" && parts[2] != "neigh" || parts[3] == "all" {
		return path
	}
	parts[3] = "default"
	return "/proc/sys/" + strings.Join(parts, "/")
}
