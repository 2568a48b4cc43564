package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/evented/evented/internal/eventstore"
)

// Cutter is a TCP proxy between a store and its server that, once armed,
// drops the connection instead of forwarding every Nth chunk the server
// sends: a request that arrived and was carried out, whose answer is lost.
// That is the write whose outcome is unknown, which a driver must not
// re-send by itself.
type Cutter struct {
	t      testing.TB
	ln     net.Listener
	target string
	every  int64
	armed  atomic.Bool
	chunks atomic.Int64
	cuts   atomic.Int64
	wg     sync.WaitGroup
}

// NewCutter listens on a free local port and forwards to target; it stops
// when the test ends.
func NewCutter(t testing.TB, target string, every int) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cutter: %v", err)
	}
	c := &Cutter{t: t, ln: ln, target: target, every: int64(every)}
	c.wg.Go(c.accept)
	t.Cleanup(func() { ln.Close(); c.wg.Wait() })
	return c
}

// Addr is the proxy's host:port.
func (c *Cutter) Addr() string { return c.ln.Addr().String() }

// Arm starts cutting; before it the proxy forwards everything.
func (c *Cutter) Arm() { c.armed.Store(true) }

// Cuts is how many connections the proxy dropped.
func (c *Cutter) Cuts() int64 { return c.cuts.Load() }

func (c *Cutter) accept() {
	for {
		down, err := c.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", c.target)
		if err != nil {
			down.Close()
			continue
		}
		c.wg.Go(func() { _, _ = io.Copy(up, down); up.Close(); down.Close() })
		c.wg.Go(func() {
			defer up.Close()
			defer down.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					if c.armed.Load() && c.chunks.Add(1)%c.every == 0 {
						c.cuts.Add(1)
						return // the answer is lost with the connection
					}
					if _, err := down.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// RunInDoubt checks that a store whose connections are cut (through goes
// through cut; direct reads the same data without it) never stores an
// append twice and never reports a stored append as failed: writers
// goroutines each append appends single unnumbered events, each with a
// payload of its own, to a cover of their own; then every acknowledged
// append must be stored exactly once, every in-doubt one
// (eventstore.ErrOutcomeUnknown) at most once, every other failure not at
// all. A driver that re-sends an append after losing its answer stores
// unnumbered pages twice, and fails here.
func RunInDoubt(t *testing.T, through, direct eventstore.Store, cut *Cutter, writers, appends int) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*timeout)
	defer cancel()
	type tally struct{ acked, inDoubt, failed []string }
	tallies := make([]tally, writers)
	covers := make([]eventstore.Cover, writers)
	cut.Arm()
	var wg sync.WaitGroup
	for w := range writers {
		covers[w] = newCover("orders")
		wg.Go(func() {
			for i := range appends {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := through.Append(ctx, covers[w], []eventstore.Page{{TypeURL: "t", Payload: []byte(id)}})
				switch {
				case err == nil:
					tallies[w].acked = append(tallies[w].acked, id)
				case errors.Is(err, eventstore.ErrOutcomeUnknown):
					tallies[w].inDoubt = append(tallies[w].inDoubt, id)
				default:
					tallies[w].failed = append(tallies[w].failed, id)
					if !errors.Is(err, eventstore.ErrUnavailable) {
						t.Logf("append %s: %v", id, err)
					}
				}
			}
		})
	}
	wg.Wait()
	var acked, inDoubt, inDoubtStored, failed, twice int
	for w, c := range covers {
		events, err := direct.Read(ctx, c, 0, 0)
		if err != nil {
			t.Fatalf("Read(%s): %v", c, err)
		}
		count := map[string]int{}
		for _, e := range events {
			count[string(e.Payload)]++
		}
		for id, n := range count {
			if n > 1 {
				twice++
				t.Errorf("append %s stored %d times", id, n)
			}
		}
		tl := tallies[w]
		acked, inDoubt, failed = acked+len(tl.acked), inDoubt+len(tl.inDoubt), failed+len(tl.failed)
		for _, id := range tl.acked {
			if count[id] != 1 {
				t.Errorf("acknowledged append %s stored %d times; want once", id, count[id])
			}
		}
		for _, id := range tl.inDoubt {
			inDoubtStored += count[id]
		}
		for _, id := range tl.failed {
			if count[id] != 0 {
				t.Errorf("append %s reported failed (not in doubt) but stored %d times", id, count[id])
			}
		}
	}
	t.Logf("%d appends through %d cut connections: %d acknowledged (each stored once), %d in doubt (%d of them stored), %d failed; %d stored twice",
		writers*appends, cut.Cuts(), acked, inDoubt, inDoubtStored, failed, twice)
	if cut.Cuts() == 0 || inDoubt == 0 {
		t.Errorf("the proxy cut %d connections and %d appends were in doubt; want some of each (the test proves nothing otherwise)", cut.Cuts(), inDoubt)
	}
}
