package nettest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

func init() {
	nettest.RegisterProgram("greeter", greeter)
	nettest.RegisterProgram("fan-out", fanOut)
	nettest.RegisterProgram("print-env", func(args []string) error {
		fmt.Println(os.Getenv(args[0]))
		return nil
	})
}

// greeter serves "hello from HOST" on TCP port args[0], from goroutines of
// its own, until it is stopped.
func greeter(args []string) error {
	ln, err := net.Listen("tcp", ":"+args[0])
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			fmt.Fprintf(c, "hello from %s\n", host)
			c.Close()
		}()
	}
}

// fanOut dials every address it is given from goroutines of its own and
// prints what each says: goroutines nettest never saw dial from the node.
func fanOut(args []string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, a := range args {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", a, 2*time.Second)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(c)
				c.Close()
				mu.Lock()
				fmt.Printf("%s says %s", a, b)
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestProgram runs Go programs registered in this test binary inside nodes:
// a server in two nodes, and a client whose goroutines dial both by name.
func TestProgram(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("prog").Host("client", "s1", "s2").Router("r").
		Link("client", "r").Link("r", "s1").Link("r", "s2")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []string{"s1", "s2"} {
		srv := node(t, n, s).ProgramCommand("greeter", "7000")
		require.NoError(t, srv.Start())
		t.Cleanup(func() { srv.Stop(time.Second) })
		require.NoError(t, srv.WaitLog(ctx, regexp.MustCompile("^listening$")))
	}
	out, err := node(t, n, "client").ProgramCommand("fan-out", "s1:7000", "s2:7000").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.ElementsMatch(t, []string{"s1:7000 says hello from s1", "s2:7000 says hello from s2"},
		strings.Split(strings.TrimSpace(string(out)), "\n"))

	// A program's failure is its exit status and message.
	out, err = node(t, n, "client").ProgramCommand("fan-out", "s1:7001").CombinedOutput()
	require.ErrorContains(t, err, "exit status 1")
	require.Contains(t, string(out), "fan-out: dial tcp")
	require.Contains(t, string(out), "connection refused")

	err = node(t, n, "client").ProgramCommand("nope").Run()
	require.ErrorContains(t, err, `no program "nope" registered (registered: [fan-out greeter print-env]); call nettest.RegisterProgram from an init function`)
}

// TestProgramEnv: a program keeps its environment when the caller sets one.
func TestProgramEnv(t *testing.T) {
	n := build(t, seedTopology())
	c := node(t, n, "red").ProgramCommand("print-env", "NETTEST_TEST_VALUE")
	c.Env = append(os.Environ(), "NETTEST_TEST_VALUE=42")
	out, err := c.Output()
	require.NoError(t, err)
	require.Equal(t, "42\n", string(out))
}
