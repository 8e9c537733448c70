package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nettestlab/nettest/internal/scenario"
)

// JUnit XML in the shape GitHub's and GitLab's test reports read: a
// testsuite per scenario, a testcase per step.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	File       string          `xml:"file,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// writeJUnit writes the report of the runs to path. A step a signal
// stopped is an error of type "interrupted" (not a failure); each file not
// run is a suite whose one case is skipped, saying so.
func writeJUnit(path string, runs []*scenario.Run, notRun []*scenario.Scenario, stopped *interruption) error {
	doc := junitSuites{Name: "nettest-run"}
	var total time.Duration
	for _, r := range runs {
		s := r.S
		suite := junitSuite{
			Name: s.Name, File: s.File, Time: secs(r.Elapsed()),
			Timestamp:  time.Now().Add(-r.Elapsed()).UTC().Format("2006-01-02T15:04:05"),
			Properties: []junitProperty{{"file", s.File}, {"topology", counts(s)}},
		}
		if stop := r.Interrupted(); stop != nil {
			suite.Properties = append(suite.Properties, junitProperty{"interrupted", stop.Error()})
		}
		for _, k := range r.KeptCaptures() {
			suite.Properties = append(suite.Properties, junitProperty{"capture " + k.Name, k.Path})
		}
		for _, res := range r.Results {
			c := junitCase{Name: strings.TrimPrefix(res.Name, s.Name+"/"), Classname: s.Name, Time: secs(res.Elapsed), File: s.File}
			if len(res.Output) > 0 {
				c.SystemOut = strings.Join(res.Output, "\n") + "\n"
			}
			switch res.Status {
			case scenario.Fail:
				first, _, _ := strings.Cut(res.Failure, "\n")
				c.Failure = &junitFailure{Message: first, Type: "failure", Text: res.Failure}
				suite.Failures++
			case scenario.Skip:
				c.Skipped = &junitSkipped{Message: res.Failure}
				suite.Skipped++
			case scenario.Interrupted:
				first, _, _ := strings.Cut(res.Failure, "\n")
				c.Error = &junitFailure{Message: first, Type: "interrupted", Text: res.Failure}
				suite.Errors++
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, c)
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		total += r.Elapsed()
		doc.Suites = append(doc.Suites, suite)
	}
	for _, s := range notRun {
		doc.Suites = append(doc.Suites, junitSuite{
			Name: s.Name, File: s.File, Time: secs(0), Tests: 1, Skipped: 1,
			Timestamp:  time.Now().UTC().Format("2006-01-02T15:04:05"),
			Properties: []junitProperty{{"file", s.File}, {"topology", counts(s)}, {"interrupted", stopped.Error()}},
			Cases: []junitCase{{Name: "not run", Classname: s.Name, Time: secs(0), File: s.File,
				Skipped: &junitSkipped{Message: stopped.Error() + ": not run"}}},
		})
		doc.Tests++
		doc.Skipped++
	}
	doc.Time = secs(total)
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(out, '\n')...), 0o644)
}
