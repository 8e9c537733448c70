package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/nettest"
)

// The commands that change a running lab (link, impair, partition, heal,
// pingall, capture, graph, down, status) ask its supervisor, over the unix
// socket in the lab's folder (lab.Socket): one connection per request, the
// request as one JSON line, the response as one JSON line. A capture's
// response is followed by the pcapng stream until either side closes.

// request is what a command asks of a supervisor.
type request struct {
	Op string `json:"op"` // status, down, link, impair, partition, heal, pingall, capture, graph

	Link   string        `json:"link,omitempty"`   // link, impair: a link's name or one of its ends
	Action string        `json:"action,omitempty"` // link: down, up, flap
	Period time.Duration `json:"period,omitempty"` // link flap: how long down, then up
	Times  int           `json:"times,omitempty"`  // link flap: how many times; 0: until link up or down

	Dir    string             `json:"dir,omitempty"` // impair: both, a-b, b-a
	Impair nettest.Impairment `json:"impair"`        // impair: the direction's new impairment
	Clear  bool               `json:"clear,omitempty"`

	Nodes []string `json:"nodes,omitempty"` // partition, pingall
	Name  string   `json:"name,omitempty"`  // partition, heal: the partition's name

	Endpoint string `json:"endpoint,omitempty"` // capture: node:iface

	Format string `json:"format,omitempty"` // graph

	Count   int           `json:"count,omitempty"`   // pingall
	Timeout time.Duration `json:"timeout,omitempty"` // pingall
	Family  string        `json:"family,omitempty"`  // pingall: ipv4, ipv6
}

// response is a supervisor's answer.
type response struct {
	OK bool `json:"ok"`
	// Code is the exit code of a failure: 1 (it failed: a ping, the
	// kernel), 2 (the request is at fault: an unknown link, an invalid
	// impairment).
	Code   int        `json:"code,omitempty"`
	Error  string     `json:"error,omitempty"`
	Text   string     `json:"text,omitempty"` // what the command prints
	Status *labStatus `json:"status,omitempty"`
}

// goneError says that a lab's supervisor has died without taking it down.
type goneError struct{ st *lab.State }

func (e goneError) Error() string {
	return fmt.Sprintf("lab %s is gone: its supervisor (%s) ended without taking it down (killed?); nettest-run down %s, or clean, removes what it left", e.st.Name, e.st.Owner, e.st.Name)
}

// supervised returns the state of a lab that is up with its supervisor
// running, or the error a command prints: not up (usage), kept without a
// supervisor, gone.
func supervised(name string) (*lab.State, error) {
	st, err := findState(name)
	if err != nil {
		return nil, err
	}
	if !st.Supervised {
		return nil, usageError("topology %s was kept by %s and has no supervisor to change it: only labs brought up by nettest-run up take link, impair, partition, heal, pingall and capture (exec and ip netns exec reach it)", name, st.By)
	}
	return st, nil
}

// dial connects to a lab's supervisor and sends the request.
func dial(st *lab.State, req request) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("unix", lab.Socket(st.Name))
	if err != nil {
		if st.Gone() {
			return nil, nil, &exitError{1, goneError{st}.Error()}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("lab %s: its supervisor (%s) serves no socket %s (it is ending?)", st.Name, st.Owner, lab.Socket(st.Name))
		}
		return nil, nil, fmt.Errorf("lab %s: reaching its supervisor (%s): %w", st.Name, st.Owner, err)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("lab %s: asking its supervisor: %w", st.Name, err)
	}
	return conn, bufio.NewReader(conn), nil
}

// readResponse reads a supervisor's response line. A supervisor that
// closed the connection without one has ended (down, or a signal).
func readResponse(st *lab.State, r *bufio.Reader) (*response, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("lab %s: its supervisor (%s) closed the connection without an answer (it is going down?)", st.Name, st.Owner)
		}
		return nil, fmt.Errorf("lab %s: reading its supervisor's answer: %w", st.Name, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("lab %s: its supervisor's answer: %w", st.Name, err)
	}
	return &resp, nil
}

// ask sends one request to a lab's supervisor and returns its answer; a
// failure comes back as an error with the response's exit code.
func ask(st *lab.State, req request) (*response, error) {
	conn, r, err := dial(st, req)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := readResponse(st, r)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		code := resp.Code
		if code == 0 {
			code = 1
		}
		return resp, &exitError{code, resp.Error}
	}
	return resp, nil
}

// writeResponse writes one response line.
func writeResponse(w io.Writer, resp response) error {
	return json.NewEncoder(w).Encode(resp)
}
