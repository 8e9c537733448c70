package nettest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestParallel builds, pings and tears down 32 topologies at once. Every one
// uses the same node and interface names and the same automatic addresses:
// namespaces keep them apart.
func TestParallel(t *testing.T) {
	testenv.RequirePrivilege(t)
	const count = 32
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i := range count {
		wg.Go(func() {
			errs[i] = pingOnce(i)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "topology %d", i)
	}
}

func pingOnce(i int) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := nettest.NewBuilder(fmt.Sprintf("par%d", i)).Host("a", "b").Router("r").Chain("a", "r", "b").Build(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := n.Close(); err == nil {
			err = cerr
		}
	}()
	a, err := n.Node("a")
	if err != nil {
		return err
	}
	for _, f := range bothFamilies {
		dst, err := n.Addr("b", f)
		if err != nil {
			return err
		}
		if _, err := icmpping.Ping(a, dst, 5*time.Second); err != nil {
			return err
		}
	}
	return nil
}
