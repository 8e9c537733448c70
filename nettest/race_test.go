//go:build race

package nettest_test

// raceEnabled: the race detector slows everything several times, so tests
// that measure time or rates skip (they run in the normal test run).
const raceEnabled = true
