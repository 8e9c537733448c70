package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version says which nettest-run this is, from the build information Go
// records in the binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return versionOf(bi, ok)
}

// versionOf formats build information: the module's version ("(devel)"
// for a build from a source tree), the VCS revision, its time and whether
// the tree had changes (go build records them, unless -buildvcs=false),
// and the Go toolchain.
//
//	nettest-run v0.3.0 (github.com/nettestlab/nettest), go1.26.8 linux/amd64
//	nettest-run (devel) (github.com/nettestlab/nettest), revision 1f0c2e3d4b5a 2026-12-01T11:47:00Z, modified, go1.26.8 linux/amd64
func versionOf(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return fmt.Sprintf("nettest-run (no build information), %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	v, mod := bi.Main.Version, bi.Main.Path
	if v == "" {
		v = "(devel)"
	}
	parts := []string{"nettest-run " + v}
	if mod != "" {
		parts[0] += " (" + mod + ")"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		parts = append(parts, strings.TrimSpace("revision "+rev+" "+at))
		if modified == "true" {
			parts = append(parts, "modified")
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	parts = append(parts, fmt.Sprintf("%s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH))
	return strings.Join(parts, ", ")
}
