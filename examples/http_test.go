package examples_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/nettest"
)

// TestHTTPAcrossRouters runs a Go HTTP server in one node and a client in
// another, with two routers between them:
//
//	client ── r1 ── r2 ── server
//
// The builder addresses everything (IPv4 and IPv6) and installs the routes.
func TestHTTPAcrossRouters(t *testing.T) {
	t.Parallel()
	n := fixtures.Build(t, nettest.NewBuilder("http").
		Host("client", "server").
		Router("r1", "r2").
		Chain("client", "r1", "r2", "server"))

	// The server: httptest, but listening inside the "server" node.
	srv := fixtures.HTTPServer(t, fixtures.Node(t, n, "server"), http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello, %s", r.RemoteAddr) }))

	// The client: an http.Client whose connections start inside "client".
	client := fixtures.Node(t, n, "client").HTTPClient()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "hello, " + fixtures.Addr(t, n, "client", nettest.IPv4).String()
	if got := string(body); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("GET %s = %q, want it to start with %q", srv.URL, got, want)
	}

	// Nodes' names work in URLs, as in the nodes' /etc/hosts.
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	if resp, err := client.Get("http://server:" + port + "/"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
	}

	// And the usual network checks read as one line each.
	assertions.Ping(t, n, "client", "server") // IPv4 and IPv6
	assertions.CanDial(t, n, "client", "tcp", "server", srv.Listener.Addr().(*net.TCPAddr).Port)
	assertions.NoDial(t, n, "client", "tcp", "server", 9, assertions.Refused())
}
