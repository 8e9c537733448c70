// Package testenv holds what this repository's own tests share: the rule
// that decides whether a privileged test runs, skips or fails.
//
// It may import nettest, fixtures and testing; nothing outside tests imports it.
package testenv
