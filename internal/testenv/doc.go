// Package testenv holds what this repository's own tests share: the rule
// that decides whether a privileged test runs, skips or fails, and
// [Private], which every test binary's TestMain calls first so that its
// tests work on a /run/netns, /run/nettest and /tmp of their own and never
// on a user's live labs.
//
// It may import nettest, fixtures, testing and golang.org/x/sys/unix;
// nothing outside tests imports it.
package testenv
