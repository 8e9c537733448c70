//go:build !race

package nettest_test

const raceEnabled = false
