package scenario_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/scenario"
)

// manyLinks is a scenario of n unnamed links between two nodes.
func manyLinks(n int) string {
	var b strings.Builder
	b.WriteString("name: big\ntopology:\n  nodes: [a, b]\n  links:\n")
	for range n {
		b.WriteString("    - endpoints: [a, b]\n")
	}
	b.WriteString("steps:\n  - ping: {from: a, to: b}\n")
	return b.String()
}

// chainOf is a scenario of n nodes in a line, each link named, with a step
// per link and per node that refers to them.
func chainOf(n int) string {
	var b strings.Builder
	b.WriteString("name: chain\ntopology:\n  nodes: [")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "n%d", i)
	}
	b.WriteString("]\n  links:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "    - {name: l%d, endpoints: [n%d, n%d]}\n", i, i, i+1)
	}
	b.WriteString("steps:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - link-down: l%d\n  - ping: {from: n%d, to: n%d}\n", i, i, i+1)
	}
	return b.String()
}

// parseTime is the best of three parses of src, in CPU time (the
// process's, GC included): the machine may be busy with other work.
func parseTime(t *testing.T, src string, wantErr bool) time.Duration {
	t.Helper()
	best := time.Duration(1 << 62)
	for range 3 {
		start := cpuTime()
		_, err := scenario.Parse("big.yaml", []byte(src), nil)
		best = min(best, cpuTime()-start)
		if (err != nil) != wantErr {
			t.Fatalf("err = %.300v, want an error: %v", err, wantErr)
		}
	}
	return best
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestParseScales catches quadratic checks: four times the links, nodes
// or steps must take well under (10x) the sixteen times as long that quadratic
// work would. 8,000 links between two nodes took 6.6 s before, 20,000
// 65.9 s (naming each unnamed link by trying every name before it).
func TestParseScales(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for name, gen := range map[string]func(int) string{"links between two nodes": manyLinks, "chain with steps": chainOf} {
		t.Run(name, func(t *testing.T) {
			small, big := parseTime(t, gen(2500), false), parseTime(t, gen(10000), false)
			ratio := float64(big) / float64(small)
			t.Logf("2,500: %v, 10,000: %v (ratio %.1f; linear is 4, quadratic 16)", small, big, ratio)
			if ratio > 10 {
				t.Errorf("10,000 took %v, 2,500 %v: ratio %.1f, worse than linear", big, small, ratio)
			}
		})
	}
	// The case: 20,000 links, more than the automatic IPv4 pool
	// holds (16,384 /30s), so the last 3,616 are errors.
	bound := 5 * time.Second
	if raceEnabled {
		bound *= 5
	}
	if d := parseTime(t, manyLinks(20000), true); d > bound {
		t.Errorf("20,000 links took %v, want under %v", d, bound)
	}
}

// TestErrorsSummarised: of problems alike, the first 20 are listed, then
// one line says how many more there are and where the last is. Problems of
// other kinds, or alike in another file, are listed apart.
func TestErrorsSummarised(t *testing.T) {
	_, err := scenario.Parse("big.yaml", []byte(manyLinks(20000)), nil)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 21 {
		t.Fatalf("%d lines, want 21 (20 and a summary):\n%s", len(lines), strings.Join(lines[:min(len(lines), 30)], "\n"))
	}
	if want := "big.yaml:16389:7: link a-b-16385: automatic addressing: 198.18.0.0/16 has no free /30 left (it holds 16384 /30); give addresses yourself"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if want := "big.yaml:16409:7: ... and 3,596 more like it (the last at line 20004)"; lines[20] != want {
		t.Errorf("summary %q, want %q", lines[20], want)
	}
	if n := len(err.(scenario.Errors)); n != 3616 {
		t.Errorf("Errors holds %d, want every one of the 3,616", n)
	}

	// 25 unknown nodes (names alike but for the name), 2 unknown processes.
	var src strings.Builder
	src.WriteString(pair + "steps:\n")
	for i := range 25 {
		fmt.Fprintf(&src, "  - ping: {from: a, to: x%c}\n", 'a'+i)
	}
	src.WriteString("  - start: p1\n  - start: p2\n")
	es := scenario.Errors{}
	_, err = scenario.Parse("t.yaml", []byte(src.String()), nil)
	es = append(es, err.(scenario.Errors)...)
	_, err = scenario.Parse("u.yaml", []byte(src.String()), nil)
	es = append(es, err.(scenario.Errors)...)
	got := strings.Split(es.Error(), "\n")
	var summaries, processes int
	for _, l := range got {
		if strings.Contains(l, "more like it") {
			summaries++
			if !strings.HasSuffix(l, ": ... and 5 more like it (the last at line 32)") {
				t.Errorf("summary %q", l)
			}
		}
		if strings.Contains(l, "unknown process") {
			processes++
		}
	}
	if len(got) != 2*(20+1+2) || summaries != 2 || processes != 4 {
		t.Errorf("got %d lines, %d summaries, %d unknown processes; want 46, 2, 4:\n%s", len(got), summaries, processes, es.Error())
	}
}

// TestParseFileSizeLimit: a file over the limit is refused before it is
// read, naming the file, its size and the flag; ParseFileMax reads it.
func TestParseFileSizeLimit(t *testing.T) {
	path := t.TempDir() + "/big.yaml"
	src := manyLinks(30000) // 720 KB
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := scenario.ParseFileMax(path, nil, 512<<10)
	want := path + ":1:1: the file is 703.2 KiB (720,079 bytes), more than the 512 KiB a scenario file may be: raise the limit with --max-size (--max-size 1MiB)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	// Raised, it is read; more than the 16,384 automatic subnets.
	_, err = scenario.ParseFileMax(path, nil, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "no free /30 left") {
		t.Errorf("err = %v, want automatic addressing errors", err)
	}
	// A pipe has no size to look at first: it is read up to the limit.
	r, w, _ := os.Pipe()
	go func() { w.WriteString(src); w.Close() }()
	defer r.Close()
	_, err = scenario.ParseFileMax(fmt.Sprintf("/proc/self/fd/%d", r.Fd()), nil, 512<<10)
	if err == nil || !strings.Contains(err.Error(), ":1:1: the input goes on, more than the 512 KiB a scenario file may be: raise the limit with --max-size (--max-size 1MiB)") {
		t.Errorf("pipe: err = %v", err)
	}
}

// TestValueBudget: a file may have 200,000 values, or one per 40 bytes of
// its size limit if more; aliases count as often as they are expanded.
func TestValueBudget(t *testing.T) {
	src := manyLinks(60000) // 240,000 values: 4 a link
	_, err := scenario.Parse("big.yaml", []byte(src), nil)
	if err == nil || !strings.Contains(err.Error(), "the document is too large or too deeply nested: more than 209,715 values, aliases expanded (--max-size allows one per 40 bytes)") {
		t.Errorf("err = %.300v", err)
	}
	path := t.TempDir() + "/big.yaml"
	os.WriteFile(path, []byte(src), 0o644)
	_, err = scenario.ParseFileMax(path, nil, 16<<20)
	if err == nil || strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), "no free /30 left") {
		t.Errorf("err = %.300v", err)
	}
}

// TestParseMemory: memory grows with the file, not faster. (The YAML tree
// alone is some 35 times a file of short lines like these; each link then
// costs some kilobytes in the checks.)
func TestParseMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	peak := func(src string) uint64 {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		done := make(chan uint64)
		go func() {
			var most uint64
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				most = max(most, ms.HeapInuse)
				select {
				case <-stop:
					done <- most
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		scenario.Parse("big.yaml", []byte(src), nil)
		close(stop)
		most := <-done
		return most - min(before.HeapInuse, most)
	}
	small, big := manyLinks(4000), manyLinks(16000)
	ps, pb := peak(small), peak(big)
	t.Logf("%d bytes: peak heap +%d MB (%.0fx); %d bytes: +%d MB (%.0fx)", len(small), ps>>20, float64(ps)/float64(len(small)), len(big), pb>>20, float64(pb)/float64(len(big)))
	if pb > 8*ps {
		t.Errorf("4 times the links took %.1f times the memory", float64(pb)/float64(ps))
	}
	if pb > 400*uint64(len(big)) {
		t.Errorf("%d bytes took %d MB", len(big), pb>>20)
	}
}

// bigTopology is a valid scenario of about size bytes: routers in a ring
// with chords (each router joined to the next and to the seventh after
// it), every link named and addressed, and steps that take links down and
// up until the file is size bytes long.
func bigTopology(size int) string {
	var b strings.Builder
	b.Grow(size + 100)
	b.WriteString("name: big\ntopology:\n  nodes:\n")
	n := size / 290 // of the file's bytes, some 30 a node, 200 its links, the rest steps
	for i := range n {
		fmt.Fprintf(&b, "    - {name: r%06d, kind: router}\n", i)
	}
	b.WriteString("  links:\n")
	k := 0
	for i := range n {
		for _, j := range []int{(i + 1) % n, (i + 7) % n} {
			a := 10<<24 | k*4
			fmt.Fprintf(&b, "    - {name: l%07d, endpoints: [\"r%06d %d.%d.%d.%d/30\", \"r%06d %d.%d.%d.%d/30\"]}\n",
				k, i, a>>24, a>>16&255, a>>8&255, a&255+1, j, a>>24, a>>16&255, a>>8&255, a&255+2)
			k++
		}
	}
	b.WriteString("steps:\n")
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, "  - link-down: l%07d\n  - link-up: l%07d\n", i%k, i%k)
	}
	return b.String()
}

// peakHeap runs f and returns the most heap in use while it ran (sampled
// every millisecond), above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var most uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			most = max(most, ms.HeapInuse)
			select {
			case <-stop:
				done <- most
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	most := <-done
	return most - min(before.HeapInuse, most)
}

// maxHeapRatio bounds the peak heap of TestParseMemoryBigFile with the
// collector running often (GOGC=10: what is live, give or take a tenth),
// as a multiple of the file's size. It was 37.6 before the decoder let go
// of the YAML tree as it went and kept positions in slices rather than
// maps (58 at the default GOGC), 23 to 24 since (30 to 39). Most of what
// is left is yaml.v3's node tree, some 16 times a file of short values
// like these and all of it live at once, and the engine's resolution.
const maxHeapRatio = 32

// TestParseMemoryBigFile: an 8 MiB scenario of 29,000 routers, 58,000
// named and addressed links and 100,000 steps, read, decoded, checked and
// resolved, takes heap at most maxHeapRatio times its size.
func TestParseMemoryBigFile(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("short, or race (which takes memory of its own)")
	}
	src := bigTopology(8 << 20)
	path := t.TempDir() + "/big.yaml"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var s *scenario.Scenario
	var err error
	start := cpuTime()
	peak := peakHeap(func() { s, err = scenario.ParseFileMax(path, nil, 32<<20) })
	cpu := cpuTime() - start
	if err != nil {
		t.Fatalf("%.500v", err)
	}
	what := fmt.Sprintf("%d bytes, %d nodes, %d links, %d steps", len(src), len(s.Topology.Nodes), len(s.Topology.Links), len(s.Steps))
	s = nil
	// The peak above depends on when the collector ran; with it running
	// often, the heap is what is live, give or take a tenth.
	gc := debug.SetGCPercent(10)
	live := peakHeap(func() { _, err = scenario.ParseFileMax(path, nil, 32<<20) })
	debug.SetGCPercent(gc)
	ratio := float64(live) / float64(len(src))
	t.Logf("%s: peak heap +%d MB (%.1fx the file), %d MB with GOGC=10 (%.1fx); %v CPU",
		what, peak>>20, float64(peak)/float64(len(src)), live>>20, ratio, cpu)
	if ratio > maxHeapRatio {
		t.Errorf("a file of %d bytes took %d MB of heap with GOGC=10: %.1f times its size, more than %d", len(src), live>>20, ratio, maxHeapRatio)
	}
}
