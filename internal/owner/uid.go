package owner

import (
	"io/fs"
	"syscall"
)

// fileUID returns the owner of a file, where the system says.
func fileUID(info fs.FileInfo) (int, bool) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}
