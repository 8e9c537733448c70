package pcapng_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nettestlab/nettest/internal/pcapng"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// TestRoundTrip: what Writer writes, Read reads back: every frame with its
// time, data, length on the wire, direction and link type.
func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapng.NewWriter(&buf, pcapng.Interface{Name: "eth0", Description: "a:eth0", LinkType: layers.LinkTypeEthernet}, "a test")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 123_456_789)
	want := []pcapng.Packet{
		{Time: t0, Data: []byte{1, 2, 3, 4}, Length: 4, Outgoing: true, LinkType: layers.LinkTypeEthernet},
		{Time: t0.Add(time.Millisecond), Data: []byte{5, 6}, Length: 1500, Outgoing: false, LinkType: layers.LinkTypeEthernet},
	}
	for _, p := range want {
		if err := w.WritePacket(p.Time, p.Data, p.Length, p.Outgoing); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteStats(t0, t0.Add(time.Second), 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	data := bytes.Clone(buf.Bytes())
	got, err := pcapng.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) || g.Length != w.Length || g.Outgoing != w.Outgoing || g.LinkType != w.LinkType {
			t.Errorf("packet %d: got %+v, want %+v", i, g, w)
		}
	}
	// tshark, when installed, reads the file too, and sees the interface.
	if tshark, err := exec.LookPath("tshark"); err == nil {
		path := filepath.Join(t.TempDir(), "x.pcapng")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.interface_name").CombinedOutput()
		if err != nil || strings.Count(string(out), "eth0") != 2 {
			t.Errorf("tshark -r: %v\n%s", err, out)
		}
	}
}

// TestReadGarbage: a stream that is no pcapng is an error.
func TestReadGarbage(t *testing.T) {
	if _, err := pcapng.Read(strings.NewReader("not a capture")); err == nil {
		t.Error("no error reading garbage")
	}
}
