package nettest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/nettest"
)

// TestSockets: Listen and Dial across nodes, v4 and v6; a refused port.
func TestSockets(t *testing.T) {
	n := routedTopology(t)
	h1, h2 := node(t, n, "h1"), node(t, n, "h2")
	ln, err := h2.Listen("tcp", ":0")
	require.NoError(t, err)
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.LocalAddr().String())
			c.Close()
		}
	}()
	for _, host := range []string{"10.0.2.2", "fd00:2::2"} {
		c, err := h1.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		require.NoError(t, err, host)
		got, err := io.ReadAll(c)
		c.Close()
		require.NoError(t, err)
		require.Equal(t, net.JoinHostPort(host, port), string(got))
	}
	_, err = h1.Dial("tcp", "10.0.2.2:1")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	// A host name with addresses of both families is dialled inside the
	// node too (no happy-eyeballs goroutines outside it): h1's own listener
	// answers on localhost.
	ln1, err := h1.Listen("tcp", ":0")
	require.NoError(t, err)
	defer ln1.Close()
	c, err := h1.Dial("tcp", net.JoinHostPort("localhost", strconv.Itoa(ln1.Addr().(*net.TCPAddr).Port)))
	require.NoError(t, err)
	c.Close()
	accepted, err := ln1.Accept()
	require.NoError(t, err)
	accepted.Close()

	pc, err := h2.ListenPacket("udp", "10.0.2.2:0")
	require.NoError(t, err)
	defer pc.Close()
	require.Equal(t, "10.0.2.2", pc.LocalAddr().(*net.UDPAddr).IP.String())
}

// TestEcho: the TCP echo returns the bytes of every connection; the UDP
// echo answers from the address a datagram was sent to, even when the
// server listens on a wildcard address and that address is not the one its
// kernel would choose for the reply; stop ends it all.
func TestEcho(t *testing.T) {
	n := routedTopology(t)
	h1, h2 := node(t, n, "h1"), node(t, n, "h2")
	// A service address on h2's loopback, reached through r1.
	require.NoError(t, h2.Netlink(func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		require.NoError(t, err)
		for _, p := range []string{"10.9.9.9/32", "fd00:9::9/128"} {
			a, err := netlink.ParseAddr(p)
			require.NoError(t, err)
			require.NoError(t, h.AddrAdd(lo, a))
		}
		return nil
	}))
	r1 := node(t, n, "r1")
	require.NoError(t, r1.Netlink(func(h *netlink.Handle) error {
		for _, r := range []struct{ dst, via string }{{"10.9.9.9/32", "10.0.2.2"}, {"fd00:9::9/128", "fd00:2::2"}} {
			_, dst, _ := net.ParseCIDR(r.dst)
			require.NoError(t, h.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP(r.via)}))
		}
		return nil
	}))

	for _, network := range []string{"tcp", "udp"} {
		addr, stop, err := h2.Echo(network, ":0")
		require.NoError(t, err)
		_, port, _ := net.SplitHostPort(addr.String())
		for _, host := range []string{"10.0.2.2", "fd00:2::2", "10.9.9.9", "fd00:9::9"} {
			c, err := h1.Dial(network, net.JoinHostPort(host, port))
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(2*time.Second)))
			_, err = io.WriteString(c, "hello "+host)
			require.NoError(t, err)
			buf := make([]byte, 64)
			k, err := c.Read(buf)
			require.NoError(t, err, "%s %s", network, host)
			require.Equal(t, "hello "+host, string(buf[:k]))
			if network == "tcp" {
				continue // left open: stop must close it
			}
			c.Close()
		}
		require.NoError(t, stop())
		require.NoError(t, stop(), "stop is idempotent")
		c, err := h1.Dial(network, net.JoinHostPort("10.0.2.2", port))
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			c.Write([]byte("x"))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		require.True(t, errors.Is(err, syscall.ECONNREFUSED), "%s echo stopped: %v", network, err)
	}

	_, _, err := h2.Echo("sctp", ":0")
	require.ErrorContains(t, err, `nettest: node h2: echo on sctp :0: network "sctp" is not tcp`)
	_, _, err = h2.Echo("tcp", "192.0.2.1:0")
	require.ErrorContains(t, err, "nettest: node h2: echo on tcp 192.0.2.1:0:")
}

// TestHTTPClientByNodeName: an HTTP server in one node, a client in
// another two routers away, the URL naming the server's node.
func TestHTTPClientByNodeName(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("http").Host("client", "server").Router("r1", "r2").
		Chain("client", "r1", "r2", "server")))
	server := node(t, n, "server")
	ln, err := server.Listen("tcp", ":8080")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from server", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	client := node(t, n, "client").HTTPClient()
	for _, url := range []string{"http://server:8080/", "http://server-eth0:8080/", "http://[" + addr(t, n, "server", nettest.IPv6).String() + "]:8080/"} {
		resp, err := client.Get(url)
		require.NoError(t, err, url)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, string(body), "from server", url)
	}
	resp, err := client.Get("http://server:8080/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "hello "+addr(t, n, "client", nettest.IPv4).String(), strings.Fields(string(body))[0]+" "+strings.Split(strings.Fields(string(body))[1], ":")[0])
}
