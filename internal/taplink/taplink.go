package taplink

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Impairment is what one direction of a link does to the frames that
// cross it: nettest.Impairment, field for field.
type Impairment struct {
	Delay, Jitter                                      time.Duration
	Loss, LossCorrelation, Duplicate, Reorder, Corrupt float64
	// Rate is in bits per second; 0 is no limit.
	Rate uint64
	// Seed seeds the direction's random source; 0 uses the link's.
	Seed int64
}

// IsZero reports whether the impairment does nothing (whatever its Seed).
func (i Impairment) IsZero() bool { return i == Impairment{Seed: i.Seed} }

// Open creates a TAP device named name in the calling thread's network
// namespace and returns its file, non-blocking so that Go's poller serves
// it. The device lives as long as the file is open.
func Open(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("creating TAP device %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

// Start forwards between the TAP devices a and b (open with [Open]) until
// Close: ab and ba are the directions' impairments and seed the link's
// default seed (see [Seed]). The link owns the files from now on.
func Start(a, b *os.File, ab, ba Impairment, seed int64) *Link {
	t := &Link{ends: [2]*os.File{a, b}}
	for k := range t.dirs {
		d := &tapDir{from: t.ends[k], to: t.ends[1-k], wake: make(chan struct{}, 1)}
		d.set([]Impairment{ab, ba}[k], seed+int64(k))
		t.dirs[k] = d
		t.wg.Go(d.receive)
		t.wg.Go(d.send)
	}
	return t
}

// Link is a running forwarder between the two ends of a userspace link.
type Link struct {
	ends [2]*os.File // the TAP devices' files: A's end, B's end
	dirs [2]*tapDir  // AB: from A's end to B's; BA
	wg   sync.WaitGroup
}

// tapDir is one direction of a userspace link.
type tapDir struct {
	from, to *os.File

	mu       sync.Mutex
	imp      Impairment
	rng      *rand.Rand
	seed     int64
	lostPrev bool      // whether the previous frame was lost, for correlation
	nextFree time.Time // when the rate limit lets the next frame leave
	queue    frameHeap
	seq      uint64
	wake     chan struct{}
	closed   bool
}

// tapQueueLimit bounds a direction's queue, as netem's limit does (1000).
const tapQueueLimit = 1000

type frame struct {
	due  time.Time
	seq  uint64
	data []byte
}

type frameHeap []frame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(frame)) }
func (h *frameHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}

// set changes the direction's impairment; a new seed restarts its random
// source.
func (d *tapDir) set(i Impairment, defaultSeed int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seed := cmp.Or(i.Seed, defaultSeed)
	if d.rng == nil || seed != d.seed || i.Seed != d.imp.Seed {
		d.rng = rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>32|1))
		d.seed = seed
		d.lostPrev = false
	}
	d.imp = i
}

// receive reads the frames the sending end transmits and queues them.
func (d *tapDir) receive() {
	buf := make([]byte, 65536+14)
	for {
		n, err := d.from.Read(buf)
		switch {
		case err == nil:
			d.admit(buf[:n])
		case errors.Is(err, unix.EIO) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			// The device is down: wait for it to come back, without spinning.
			time.Sleep(10 * time.Millisecond)
		default:
			// Closed, or the device is gone (EBADFD): this direction ends.
			d.mu.Lock()
			d.closed = true
			d.mu.Unlock()
			d.poke()
			return
		}
	}
}

// admit applies the impairment to one frame and queues what is left of it.
func (d *tapDir) admit(b []byte) {
	d.mu.Lock()
	i := d.imp
	now := time.Now()
	if i.IsZero() && d.queue.Len() == 0 {
		d.mu.Unlock()
		d.to.Write(b) // the common case: straight through
		return
	}
	defer d.poke()
	defer d.mu.Unlock()
	if i.Loss > 0 {
		// Correlated loss repeats the previous decision with probability
		// LossCorrelation and otherwise draws afresh, so losses come in
		// bursts and still average Loss.
		drop := d.rng.Float64() < i.Loss
		if i.LossCorrelation > 0 && d.rng.Float64() < i.LossCorrelation {
			drop = d.lostPrev
		}
		d.lostPrev = drop
		if drop {
			return
		}
	}
	copies := 1
	if i.Duplicate > 0 && d.rng.Float64() < i.Duplicate {
		copies = 2
	}
	for range copies {
		if d.queue.Len() >= tapQueueLimit {
			return // tail drop, as a full queue does
		}
		data := append([]byte(nil), b...)
		if i.Corrupt > 0 && d.rng.Float64() < i.Corrupt && len(data) > 14 {
			bit := 14*8 + d.rng.IntN((len(data)-14)*8) // past the Ethernet header
			data[bit/8] ^= 1 << (bit % 8)
		}
		due := now
		if i.Delay > 0 && !(i.Reorder > 0 && d.rng.Float64() < i.Reorder) {
			delay := i.Delay
			if i.Jitter > 0 {
				delay += time.Duration((2*d.rng.Float64() - 1) * float64(i.Jitter))
			}
			due = now.Add(delay)
		}
		if i.Rate > 0 {
			// The frame leaves when the line is free, taking its length's time.
			start := due
			if d.nextFree.After(start) {
				start = d.nextFree
			}
			d.nextFree = start.Add(time.Duration(float64(len(data)*8) / float64(i.Rate) * float64(time.Second)))
			due = d.nextFree
		}
		d.seq++
		heap.Push(&d.queue, frame{due: due, seq: d.seq, data: data})
	}
}

func (d *tapDir) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// send writes queued frames into the receiving end when they are due.
func (d *tapDir) send() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		var ready [][]byte
		now := time.Now()
		for d.queue.Len() > 0 && !d.queue[0].due.After(now) {
			ready = append(ready, heap.Pop(&d.queue).(frame).data)
		}
		wait := time.Hour
		if d.queue.Len() > 0 {
			wait = d.queue[0].due.Sub(now)
		}
		d.mu.Unlock()
		for _, b := range ready {
			d.to.Write(b)
		}
		if len(ready) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// Set changes both directions' impairments: ab from A's end to B's, ba
// back. seed is the link's default seed (see [Seed]): A to B uses it, B to
// A seed+1, unless the impairment gives its own.
func (t *Link) Set(ab, ba Impairment, seed int64) {
	t.dirs[0].set(ab, seed)
	t.dirs[1].set(ba, seed+1)
}

// Seed derives a link's default random seed from its name.
func Seed(name string) int64 {
	s := fnv.New64a()
	s.Write([]byte(name))
	return int64(s.Sum64())
}

// Close stops the forwarder and closes the TAP devices, which removes
// them.
func (t *Link) Close() error {
	var errs []error
	for _, f := range t.ends {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	for _, d := range t.dirs {
		if d != nil {
			d.poke()
		}
	}
	t.wg.Wait()
	return errors.Join(errs...)
}
