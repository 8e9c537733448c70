package main

import (
	"os"
	"path/filepath"
	"slices"
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
