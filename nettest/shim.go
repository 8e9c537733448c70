package nettest

import (
	"os"

	"github.com/nettestlab/nettest/internal/shim"
)

// A command started in a node runs under a shim (package internal/shim):
// this very binary, run again, which nettest's package initialisation turns
// into the init process of the command's own PID namespace before anything
// else of the program runs.
func init() {
	if cfg, ok := os.LookupEnv(shim.Env); ok {
		// Package initialisation runs on the main thread, locked to it.
		os.Unsetenv(shim.Env)
		os.Exit(shim.Main(cfg))
	}
}
