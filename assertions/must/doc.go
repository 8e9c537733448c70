// Package must has the checks of package
// [github.com/nettestlab/nettest/assertions], each of which stops the test
// (FailNow) when it fails: the mirror of testify's require next to assert.
//
//	must.Ping(t, n, "h1", "h2") // the test ends here if h2 does not answer
//
// The options are those of package assertions. Package must imports
// assertions and nettest, and no testing package.
package must
