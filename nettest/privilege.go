package nettest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// howToRun is the advice every privilege error ends with.
const howToRun = "run as root (sudo), with `go test -exec sudo`, " +
	"with CAP_SYS_ADMIN and CAP_NET_ADMIN (setcap or a container), " +
	"or rootless inside a user namespace (`unshare --user --map-root-user --net go test ...`)"

// CheckPrivilege reports whether this process may build topologies: it
// needs CAP_SYS_ADMIN (to create network namespaces) and CAP_NET_ADMIN (to
// configure them) in its user namespace. The error wraps [ErrPrivilege] and
// says how to run. It makes no system change.
func CheckPrivilege() error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("nettest: reading capabilities: %w", err)
	}
	var missing []string
	if eff&(1<<unix.CAP_SYS_ADMIN) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if eff&(1<<unix.CAP_NET_ADMIN) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("nettest: this process lacks %s: %w; %s", strings.Join(missing, " and "), ErrPrivilege, howToRun)
	}
	return nil
}

// effectiveCaps reads the CapEff mask of this process from /proc.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// privilegeError wraps a failed system call; a permission error becomes an
// ErrPrivilege with advice on how to run.
func privilegeError(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w (%v); %s", op, ErrPrivilege, err, howToRun)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Rootless reports whether this process runs in a user namespace other than
// the host's (as under `unshare --user --map-root-user`): it may build
// topologies there, but not mount on the host's /run/netns.
func Rootless() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
