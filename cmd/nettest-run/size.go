package main

import (
	"flag"

	"github.com/nettestlab/nettest/internal/scenario"
)

// sizeFlag is --max-size: the largest scenario file a command reads.
type sizeFlag int64

func (s *sizeFlag) String() string { return scenario.FormatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := scenario.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// maxSizeFlag adds --max-size to a command that reads scenario files.
func maxSizeFlag(fs *flag.FlagSet) *int64 {
	s := sizeFlag(scenario.DefaultMaxSize)
	fs.Var(&s, "max-size", "the largest scenario file to read (64MiB)")
	return (*int64)(&s)
}
