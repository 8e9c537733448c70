package main

import (
	"github.com/spf13/pflag"

	"github.com/nettestlab/nettest/internal/scenario"
)

// sizeFlag is --max-size: the largest scenario file a command reads.
type sizeFlag int64

func (s *sizeFlag) String() string { return scenario.FormatSize(int64(*s)) }

// Type names the flag's value in help.
func (s *sizeFlag) Type() string { return "SIZE" }

func (s *sizeFlag) Set(v string) error {
	n, err := scenario.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// maxSizeFlag adds --max-size to a command that reads scenario files.
func maxSizeFlag(fs *pflag.FlagSet) *int64 {
	s := sizeFlag(scenario.DefaultMaxSize)
	fs.Var(&s, "max-size", "read scenario files up to this size (64MiB, say)")
	return (*int64)(&s)
}
