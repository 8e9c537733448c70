//go:build race

package scenario_test

// raceEnabled: the race detector slows everything several times, so the
// bounds on time are looser under it.
const raceEnabled = true
