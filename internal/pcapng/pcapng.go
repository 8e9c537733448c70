package pcapng

import (
	"errors"
	"io"
	"runtime"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Interface describes the one interface a file records.
type Interface struct {
	// Name is the interface's name ("eth0"); Description says where it
	// is ("node:eth0").
	Name, Description string
	// LinkType is the kind of link-layer header its frames start with.
	LinkType layers.LinkType
}

// Writer writes a pcapng stream of one interface.
type Writer struct {
	w *pcapgo.NgWriter
}

// NewWriter writes the section header (with comment, and nettest as the
// application) and the interface's description to w.
func NewWriter(w io.Writer, in Interface, comment string) (*Writer, error) {
	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name:                in.Name,
		Description:         in.Description,
		OS:                  runtime.GOOS,
		LinkType:            in.LinkType,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "nettest",
		Comment:     comment,
	}})
	if err != nil {
		return nil, err
	}
	return &Writer{w: ng}, nil
}

// WritePacket writes one frame: data as captured, length its length on the
// wire, outgoing its direction (sent by the interface's node, or received).
func (w *Writer) WritePacket(ts time.Time, data []byte, length int, outgoing bool) error {
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: length}
	dir := pcapgo.NgEpbFlagDirectionInbound
	if outgoing {
		dir = pcapgo.NgEpbFlagDirectionOutbound
	}
	return w.w.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Flags: &pcapgo.NgEpbFlags{Direction: dir}})
}

// WriteStats writes the interface's statistics: when the capture started
// and ended, and how many frames it recorded and the kernel dropped.
func (w *Writer) WriteStats(start, end time.Time, received, dropped uint64) error {
	return w.w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
		LastUpdate: end, StartTime: start, EndTime: end,
		PacketsReceived: received, PacketsDropped: dropped,
	})
}

// Flush writes what is buffered to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// Packet is one frame read from a file.
type Packet struct {
	Time     time.Time
	Data     []byte
	Length   int
	Outgoing bool
	LinkType layers.LinkType
}

// Read reads the frames of a pcapng stream: every frame of every
// interface, with its direction when the file records it.
func Read(r io.Reader) ([]Packet, error) {
	rd, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, err
	}
	var out []Packet
	for {
		data, ci, opts, err := rd.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p := Packet{Time: ci.Timestamp, Data: data, Length: ci.Length, LinkType: rd.LinkType()}
		if len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				p.LinkType = lt
			}
		}
		if opts.Flags != nil {
			p.Outgoing = opts.Flags.Direction == pcapgo.NgEpbFlagDirectionOutbound
		}
		out = append(out, p)
	}
}
