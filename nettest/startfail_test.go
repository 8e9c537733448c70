package nettest_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestCommandThatCannotStart: a program that cannot be run in a node, with
// Command or with Exec, gives an error that names the node and the program,
// and wraps the reason.
func TestCommandThatCannotStart(t *testing.T) {
	n := build(t, seedTopology())
	red := node(t, n, "red")
	notExec := filepath.Join(t.TempDir(), "not-executable")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))

	err := red.Command("/no/such/binary", "-x").Run()
	assert.EqualError(t, err, "nettest: node red: /no/such/binary: no such file or directory")
	assert.ErrorIs(t, err, fs.ErrNotExist)

	err = red.Command("nettest-no-such-program").Start()
	assert.EqualError(t, err, "nettest: node red: nettest-no-such-program: executable file not found in $PATH")
	assert.ErrorIs(t, err, exec.ErrNotFound)

	err = red.Command(notExec).Run()
	assert.EqualError(t, err, "nettest: node red: "+notExec+": permission denied")
	assert.ErrorIs(t, err, unix.EACCES)

	requireTools(t, "true")
	c := red.Command("true")
	c.Dir = "/no/such/dir"
	err = c.Run()
	assert.ErrorContains(t, err, "nettest: node red: ")
	assert.ErrorContains(t, err, "working directory: stat /no/such/dir: no such file or directory")

	// Exec (nettest-run exec) fails before replacing this process.
	err = red.Exec("/no/such/binary", []string{"/no/such/binary"}, nil)
	assert.EqualError(t, err, "nettest: node red: /no/such/binary: no such file or directory")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	err = red.Exec("nettest-no-such-program", []string{"nettest-no-such-program"}, nil)
	assert.EqualError(t, err, "nettest: node red: nettest-no-such-program: executable file not found in $PATH")
}
