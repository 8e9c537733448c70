// Package scenario reads, checks and runs nettest-run's scenario files: a
// topology of network namespaces and the steps to run on it.
//
// A file goes through four stages, each in its own files:
//
//   - decode (decode.go, values.go): the YAML node tree into the Go types
//     of file.go and of the steps, every problem at its line and column;
//   - check (parse.go, check.go, netcheck.go, kernel.go): names, links,
//     interfaces, processes and values against the topology, and the
//     engine's own validation, mapped back to the file;
//   - run (run.go, proc.go): build the network, start the processes, run
//     the steps in order, report, tear down;
//   - schema (schema.go, schemagen): the JSON Schema of the files,
//     docs/scenario.schema.json, generated from the same types and tables.
//
// # Steps
//
// A step is one keyword and its value ("ping: {from: a, to: b}"). Each
// keyword is a kind of step: a type that decodes, checks and runs itself
// (the action interface in steps.go), in the steps_*.go file of its
// family (steps_ping.go, steps_dial.go, steps_route.go, steps_exec.go,
// steps_link.go, steps_faults.go, steps_process.go, steps_firewall.go,
// steps_capture.go, steps_eventually.go). The table stepKinds in steps.go
// registers them: the decoder, the checks, the run and the schema read it.
//
// To add a step kind:
//
//  1. Write its file, steps_WORD.go, with the type of its value: a
//     struct whose json tags name its keys, "required" marking those that
//     must be there and doc tags describing them for the schema (or a
//     Text, for a keyword whose value is one word, held in a struct of
//     your own). Give it the three methods of action: value returns the
//     pointer the decoder fills in; check checks it against the Scenario,
//     reporting each problem at its position, keeps what running it
//     needs in unexported fields and returns the step's default name; run
//     runs it against the Run and returns its output and why it failed.
//     A check uses the timing it gets, so that eventually can retry it.
//  2. Add one line to stepKinds: the keyword, its role (changes: it runs
//     even when -run does not select it; checks: eventually takes it),
//     the constructor, and the doc the schema gives the keyword.
//  3. Run go generate ./internal/scenario to update the schema, and add
//     a sample of the keyword to stepSamples (steps_internal_test.go):
//     TestStepKinds then checks that it decodes, checks, runs and is in
//     the schema.
//
// A kind whose steps share state in a run (captures, partitions) keeps it
// in the Scenario while checking and in the Run while running.
package scenario
