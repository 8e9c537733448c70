// Package deps holds no code: its test enforces the repository's layering
// (DESIGN.md, "Layout"), in the manner of Go's go/build/deps_test.go. The
// arrows point one way:
//
//	cmd, examples -> internal/scenario -> fixtures, assertions -> nettest -> internal mechanisms
//
// and a package may import, of this module, only what the table in
// deps_test.go allows it. Public Example functions import no internal
// package, so that a reader can copy them.
package deps
