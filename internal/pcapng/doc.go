// Package pcapng writes and reads the pcapng files of nettest's captures:
// one interface per file, every frame with its direction, and the
// interface's statistics (frames recorded and dropped) at the end — files
// Wireshark and tshark open.
//
// It knows the file format only: it opens no socket and no file, and
// enters no namespace (package nettest's Capture does, and hands it the
// frames). It must never import a package of nettest (nettest, fixtures,
// assertions, ...): the engine imports it.
package pcapng
