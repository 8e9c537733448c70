package main

import (
	"errors"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// kernelProblems returns what the scenario asks that this kernel would
// refuse (sysctls, features), at their keys, when this process may probe
// the kernel (the privilege Build needs); nil otherwise. A probe that
// fails is left to Build, which reports it.
func kernelProblems(s *scenario.Scenario) scenario.Errors {
	if nettest.CheckPrivilege() != nil {
		return nil
	}
	var es scenario.Errors
	if errors.As(s.CheckKernel(), &es) {
		return es
	}
	return nil
}
