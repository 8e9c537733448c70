package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// scenarioArgs expands the arguments of run and validate: a folder stands
// for its *.yaml files, sorted by name (not those of its subfolders); a
// file, or a path that is neither, stays as given for the parser to read
// or to report. A folder without a *.yaml file is a usage error.
func scenarioArgs(cmd string, args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if fi, err := os.Stat(a); err != nil || !fi.IsDir() {
			files = append(files, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.yaml"))
		if err != nil {
			return nil, err
		}
		var in []string
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
				in = append(in, f)
			}
		}
		if len(in) == 0 {
			return nil, usageError("%s %s: the folder has no scenario file (*.yaml)", cmd, a)
		}
		slices.Sort(in)
		files = append(files, in...)
	}
	return files, nil
}

// parseShard reads --shard K/N: 1 <= K <= N.
func parseShard(v string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(v, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return 0, 0, usageError("--shard %s: want K/N, two whole numbers with 1 <= K <= N (1/2 and 2/2 split the files in two)", v)
	}
	return k, n, nil
}

// shard returns the files of shard k of n: the i-th file in sorted order
// (from 0) belongs to shard (i mod n)+1. The files keep the order given.
func shard(files []string, k, n int) []string {
	sorted := slices.Clone(files)
	slices.Sort(sorted)
	mine := map[string]bool{}
	for i, f := range sorted {
		if i%n == k-1 {
			mine[f] = true
		}
	}
	var out []string
	for _, f := range files {
		if mine[f] {
			out = append(out, f)
			delete(mine, f) // a file given twice runs once per shard at most
		}
	}
	return out
}
