package packetsock

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Open opens a packet socket for the interface of that index, in the
// calling thread's network namespace, non-blocking; name names the file.
// It is made with protocol 0, which receives nothing, and then bound to
// the interface for every protocol, so that no frame of another interface
// slips in between.
func Open(index int, name string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: index}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	// Promiscuous, as tcpdump is by default: a bridge passes up the
	// frames it forwards between its ports only then. The kernel drops
	// the membership with the socket.
	mreq := &unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt PACKET_ADD_MEMBERSHIP", err)
	}
	// Kernel timestamps, and room for bursts; as root the buffer may
	// exceed the host's rmem_max.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Frame is one frame read from the socket.
type Frame struct {
	// Time is when the kernel saw it.
	Time time.Time
	// Data is the frame as captured: at most the buffer's size.
	Data []byte
	// Length is its length on the wire.
	Length int
	// Outgoing says the interface's node sent it.
	Outgoing bool
}

// Drain hands every frame waiting in the socket fd to emit, reading into
// buf (a frame longer is cut) and oob (control messages); it returns when
// none waits, or with the first error of reading or of emit. On a
// loopback interface, which shows each frame twice, it skips the outgoing
// copy.
func Drain(fd int, buf, oob []byte, loopback bool, emit func(Frame) error) error {
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.ENETDOWN):
			// The interface went down: the kernel says so once; the socket
			// stays bound and records again once the interface is up.
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return os.NewSyscallError("recvmsg", err)
		}
		sll, _ := from.(*unix.SockaddrLinklayer)
		out := sll != nil && sll.Pkttype == unix.PACKET_OUTGOING
		if out && loopback {
			continue // the loopback shows each frame again as received
		}
		f := Frame{Time: timestamp(oob[:oobn]), Data: buf[:min(n, len(buf))], Length: n, Outgoing: out}
		if err := emit(f); err != nil {
			return err
		}
	}
}

// timestamp returns the kernel's receive time of a frame, from its
// control messages, or now.
func timestamp(oob []byte) time.Time {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix())
		}
	}
	return time.Now()
}

// Drops returns how many frames the kernel dropped for the socket since
// the last call (the kernel resets its count when read).
func Drops(fd int) uint64 {
	st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}
