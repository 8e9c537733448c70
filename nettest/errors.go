package nettest

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ConfigError is one problem found in a [Topology] before any kernel call.
// [Topology.Validate] and [Build] return every ConfigError they find, joined
// with [errors.Join]; errors.As finds the first, and the joined error's
// Unwrap() []error lists them all.
type ConfigError struct {
	// Where names the thing at fault, outermost first:
	// "node r2: interface eth1: address 10.0.0.300/24".
	Where string
	// Problem says what is wrong with it: "invalid".
	Problem string
}

// Error returns "where: problem".
func (e *ConfigError) Error() string {
	if e.Where == "" {
		return e.Problem
	}
	return e.Where + ": " + e.Problem
}

// ErrPrivilege is wrapped by the error [Build] returns when the process may
// not create network namespaces or configure them.
var ErrPrivilege = errors.New("not enough privilege")

// ErrUnsupported is wrapped by errors that report a kernel feature this kernel
// lacks (see [DetectFeatures]). It is [errors.ErrUnsupported], so either
// errors.Is(err, nettest.ErrUnsupported) or errors.Is(err, errors.ErrUnsupported) works.
var ErrUnsupported = errors.ErrUnsupported

// ErrClosed is wrapped by the error of every call on a Network (or its
// nodes and links) made after Close, [Node.Netlink], [Node.NetNS] and
// [Node.NetNSPath] included.
var ErrClosed = errors.New("the network is closed")

// nilContext is the error of a call given a nil context.Context, which
// nettest refuses rather than panicking on later: "nettest: node h1: Ping:
// ctx is nil (use context.Background() for no deadline)". where names the
// thing ("nettest: node h1"), call the method.
func nilContext(where, call string) error {
	return fmt.Errorf("%s: %s: ctx is nil (use context.Background() for no deadline)", where, call)
}

// problems collects ConfigErrors.
type problems []error

func (p *problems) add(where, format string, args ...any) {
	*p = append(*p, &ConfigError{Where: where, Problem: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}

// where joins the parts of a ConfigError's location.
func where(parts ...string) string {
	var keep []string
	for _, s := range parts {
		if s != "" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, ": ")
}

// ArtifactsEnv names the environment variable that names a folder where
// nettest's users keep what a run leaves for people to read — every Go
// test's topology reports and captures (package fixtures), every scenario's
// captures (nettest-run) — whether it passed or failed.
const ArtifactsEnv = "NETTEST_ARTIFACTS"

// kernelError marks errors that mean "this kernel has no such feature".
func kernelError(feature string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("kernel lacks %s support: %w (%v)", feature, ErrUnsupported, err)
	}
	return err
}
