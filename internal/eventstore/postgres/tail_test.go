package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/postgres"
)

// TestTailOutOfOrderCommits is the proof of the global order. Writers
// append to shared aggregates while every transaction sleeps a random time
// between its insert and its commit, so transactions with lower positions
// commit after ones with higher positions all the time. The writers append
// through several Stores, as processes sharing the schema do: one Store
// stores its concurrent appends together, a batch at a time. Two tailers follow
// the log as a subscription does:
//
//   - ReadLog must deliver every acknowledged event exactly once, positions
//     increasing, each aggregate in sequence order;
//   - a naive reader (position order, no snapshot bound: what a BIGSERIAL
//     log does) runs beside it and must miss events. If it does not, the
//     load did not create the hazard, and the test fails as proving nothing.
func TestTailOutOfOrderCommits(t *testing.T) {
	const (
		writers          = 24
		appendsPerWriter = 25
		maxDelay         = 30 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	url := freshSchema(t)
	s := open(t, url)
	stores := []*postgres.Store{s, open(t, url), open(t, url), open(t, url)}
	delayCommits(t, url, maxDelay)
	covers := make([]eventstore.Cover, 12)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: fmt.Sprintf("d%d", i%3), Root: uuid.New()}
	}

	type ack struct {
		key   string
		order int64
	}
	var (
		acksMu sync.Mutex
		acks   []ack
		order  atomic.Int64
		wg     sync.WaitGroup
	)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for i := range appendsPerWriter {
				c := covers[r.IntN(len(covers))]
				pages := make([]eventstore.Page, 1+r.IntN(3))
				for j := range pages {
					pages[j] = eventstore.Page{TypeURL: "t", Payload: fmt.Appendf(nil, "w%d-%d-%d", w, i, j)}
				}
				events, err := stores[w%len(stores)].Append(ctx, c, pages)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				n := order.Add(1)
				acksMu.Lock()
				for _, e := range events {
					acks = append(acks, ack{fmt.Sprintf("%s/%d", c, e.Sequence), n})
				}
				acksMu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	naive := admin(t, url)
	var naiveSeen []eventstore.Logged
	naiveDone := make(chan error, 1)
	go func() {
		naiveDone <- tail(ctx, done, func(after uint64) ([]eventstore.Logged, error) {
			rows, err := naive.Query(ctx, `SELECT position, domain, aggregate_id, sequence FROM events
				WHERE position > $1 ORDER BY position LIMIT 100`, int64(after))
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.Logged, error) {
				var e eventstore.Logged
				return e, r.Scan(&e.Position, &e.Cover.Domain, &e.Cover.Root, &e.Sequence)
			})
		}, func() <-chan struct{} { return nil }, func(e eventstore.Logged) { naiveSeen = append(naiveSeen, e) })
	}()

	seen := map[string]int{}
	next := map[eventstore.Cover]uint32{}
	var last uint64
	err := tail(ctx, done, func(after uint64) ([]eventstore.Logged, error) {
		return s.ReadLog(ctx, after, 50)
	}, s.Appended, func(e eventstore.Logged) {
		if e.Position <= last {
			t.Fatalf("position %d after %d: the log went backwards", e.Position, last)
		}
		last = e.Position
		key := fmt.Sprintf("%s/%d", e.Cover, e.Sequence)
		seen[key]++
		if seen[key] > 1 {
			t.Fatalf("%s delivered twice", key)
		}
		if e.Sequence != next[e.Cover] {
			t.Fatalf("%s: got sequence %d, want %d (skipped or out of order)", e.Cover, e.Sequence, next[e.Cover])
		}
		next[e.Cover]++
	})
	if err != nil {
		t.Fatalf("tailing ReadLog: %v", err)
	}
	if err := <-naiveDone; err != nil {
		t.Fatalf("naive tailer: %v", err)
	}
	if t.Failed() {
		return
	}

	if len(acks) != len(seen) {
		t.Errorf("ReadLog delivered %d events; writers had %d acknowledged", len(seen), len(acks))
	}
	for _, a := range acks {
		if seen[a.key] != 1 {
			t.Errorf("acknowledged event %s delivered %d times; want once", a.key, seen[a.key])
		}
	}

	// How often did a transaction commit after one with a higher position?
	// Acknowledgement order stands for commit order.
	positions := map[string]uint64{}
	rows, err := naive.Query(ctx, `SELECT position, domain, aggregate_id, sequence FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.Logged, error) {
		var e eventstore.Logged
		return e, r.Scan(&e.Position, &e.Cover.Domain, &e.Cover.Root, &e.Sequence)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		positions[fmt.Sprintf("%s/%d", e.Cover, e.Sequence)] = e.Position
	}
	byOrder := map[int64]uint64{} // append → its first position
	for _, a := range acks {
		if p := positions[a.key]; byOrder[a.order] == 0 || p < byOrder[a.order] {
			byOrder[a.order] = p
		}
	}
	inversions := 0
	var highest uint64
	for n := int64(1); n <= order.Load(); n++ {
		if byOrder[n] < highest {
			inversions++
		}
		highest = max(highest, byOrder[n])
	}
	naiveKeys := map[string]bool{}
	for _, e := range naiveSeen {
		naiveKeys[fmt.Sprintf("%s/%d", e.Cover, e.Sequence)] = true
	}
	missed := len(acks) - len(naiveKeys)
	t.Logf("%d writers, %d appends, %d events: %d appends committed after one with a higher position; "+
		"ReadLog delivered all, a naive position-order reader missed %d", writers, order.Load(), len(acks), inversions, missed)
	if inversions == 0 {
		t.Error("no append committed out of position order: the delays did not create the hazard this test is about")
	}
	if missed == 0 {
		t.Error("the naive reader missed nothing: the test did not show the failure ReadLog is built to avoid")
	}
}

// tail follows a log until done is closed and a last read comes back
// empty, calling handle for each event; it waits on wake (when not nil) or
// polls every millisecond.
func tail(ctx context.Context, done <-chan struct{}, read func(after uint64) ([]eventstore.Logged, error),
	wake func() <-chan struct{}, handle func(eventstore.Logged)) error {
	var after uint64
	writing := true
	for {
		w := wake()
		batch, err := read(after)
		if err != nil {
			return err
		}
		for _, e := range batch {
			handle(e)
			after = e.Position
		}
		if len(batch) > 0 {
			continue
		}
		if !writing {
			return nil
		}
		select {
		case <-w:
		case <-done:
			writing = false // one more read drains what committed last
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
