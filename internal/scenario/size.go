package scenario

import (
	"fmt"
	"strconv"
	"strings"
)

// Byte sizes, for --max-size.
const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", kiB}, {"mib", miB}, {"gib", giB},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", kiB}, {"m", miB}, {"g", giB}, {"b", 1},
}

// ParseSize reads a size in bytes: "8388608", "64MiB", "64M" (the same),
// "500KB" (500,000), "1GiB". Units are case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with a unit: 64MiB, 500KB, 1GiB", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatSize writes a size in the largest binary unit it fills: "8 MiB",
// "10.2 MiB", "900 bytes".
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", giB}, {"MiB", miB}, {"KiB", kiB}} {
		if n >= u.mult {
			if n%u.mult == 0 {
				return strconv.FormatInt(n/u.mult, 10) + " " + u.name
			}
			return strconv.FormatFloat(float64(n)/float64(u.mult), 'f', 1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// roundUpMiB rounds a size up to whole MiB.
func roundUpMiB(n int64) int64 { return (n + miB - 1) / miB * miB }
