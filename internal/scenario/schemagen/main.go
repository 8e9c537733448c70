// Command schemagen writes the JSON Schema of scenario files (go generate
// in internal/scenario runs it): schemagen -o docs/scenario.schema.json.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nettestlab/nettest/internal/scenario"
)

func main() {
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	data, err := scenario.Schema()
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(data)
		} else {
			err = os.WriteFile(*out, data, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}
