package nettest

import (
	"os"
	"path/filepath"
	"slices"
)

// FRRDirs are where FRR's daemons are looked for, in order: Debian's and
// Ubuntu's /usr/lib/frr, Fedora's and RHEL's /usr/libexec/frr.
var FRRDirs = []string{"/usr/lib/frr", "/usr/libexec/frr"}

// frrDir returns the first of FRRDirs that has zebra (the first of them
// when none has: the error then names it).
func frrDir() string {
	for _, d := range FRRDirs {
		if _, err := os.Stat(filepath.Join(d, "zebra")); err == nil {
			return d
		}
	}
	return FRRDirs[0]
}

// FRR returns the spec of FRRouting in a node, configured by conf, the
// integrated configuration (frr.conf; a text/template given the node's
// NodeFacts), with zebra, staticd and the daemons named ("ospfd",
// "ospf6d", "bgpd", "isisd", ...). It runs FRR as its packages do, with
// its default paths and no path flags: conf in the node's
// /etc/frr/frr.conf (with a vtysh.conf that says the configuration is
// integrated), /run/frr and /var/tmp/frr made in the node's own
// directories and owned by user frr, zebra started first, then staticd and
// the others, each ready when it has made its vty socket in /run/frr
// (zebra: and its zserv.api socket, which the others connect to); then vtysh -b loads
// frr.conf into them, as FRR's init script does. The daemons log to their
// output (--log stdout), which goes where the caller's Mirror says. FRR
// is ready when vtysh -c "show version" answers; Exec sends a command
// through vtysh -c (several, one per line: "configure\nrouter ospf\n...").
func FRR(conf string, daemons ...string) DaemonSpec {
	dir := frrDir()
	const owner = "frr:frr"
	spec := DaemonSpec{
		Kind: "frr",
		Dirs: []DaemonDir{
			{Path: "/etc/frr", Perm: 0o755, Owner: owner},
			{Path: "/run/frr", Perm: 0o755, Owner: owner},
			{Path: "/var/tmp/frr", Perm: 0o755, Owner: owner},
			{Path: "/var/log/frr", Perm: 0o755, Owner: owner},
		},
		Files: []DaemonFile{
			{Path: "/etc/frr/frr.conf", Text: conf, Perm: 0o640, Owner: owner},
			{Path: "/etc/frr/vtysh.conf", Text: "service integrated-vtysh-config\n", Perm: 0o640, Owner: owner},
		},
		Setup: [][]string{{"vtysh", "-b"}},
		Ready: []string{"vtysh", "-c", "show version"},
		CLI:   []string{"vtysh", "-c"},
	}
	all := []string{"zebra", "staticd"}
	for _, d := range daemons {
		if !slices.Contains(all, d) {
			all = append(all, d)
		}
	}
	for _, d := range all {
		p := DaemonProc{
			Name:       d,
			Args:       []string{filepath.Join(dir, d), "--log", "stdout"},
			ReadyFiles: []string{"/run/frr/" + d + ".vty"},
		}
		if d == "zebra" {
			p.ReadyFiles = append(p.ReadyFiles, "/run/frr/zserv.api")
		}
		spec.Procs = append(spec.Procs, p)
	}
	return spec
}

// BIRD returns the spec of BIRD 2 in a node, configured by conf (a
// text/template given the node's NodeFacts), with its default paths:
// conf in the node's /etc/bird/bird.conf, its control socket in the
// node's /run/bird, bird run in the foreground (-f). It is ready when
// birdc show status answers; Exec sends a command through birdc. BIRD logs
// where conf says ("log stderr all;" sends it to the caller's Mirror).
func BIRD(conf string) DaemonSpec {
	return DaemonSpec{
		Kind:  "bird",
		Dirs:  []DaemonDir{{Path: "/run/bird", Perm: 0o755}},
		Files: []DaemonFile{{Path: "/etc/bird/bird.conf", Text: conf, Perm: 0o644}},
		Procs: []DaemonProc{{Name: "bird", Args: []string{"bird", "-f"}}},
		Ready: []string{"birdc", "show status"},
		CLI:   []string{"birdc"},
	}
}
