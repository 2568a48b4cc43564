package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// asyncRecorder is an AsyncConsumer over a recorder: DeliverAsync answers
// from a goroutine of its own after answer says how long, with the error
// answer gives (the recorder records the book only on success); Deliver,
// which the segment uses for the retries of a failed book, is the
// recorder's. It counts the books in flight per aggregate.
type asyncRecorder struct {
	*recorder
	answer func(book eventstore.Book) (time.Duration, error)

	amu         sync.Mutex
	async       int // books handed over with DeliverAsync
	inflight    map[eventstore.Cover]int
	maxInflight int // most books of one aggregate in flight at once
	now, most   int // books in flight now, and at most
}

func newAsyncRecorder(name string, answer func(eventstore.Book) (time.Duration, error)) *asyncRecorder {
	return &asyncRecorder{recorder: newRecorder(name), answer: answer, inflight: map[eventstore.Cover]int{}}
}

func (a *asyncRecorder) DeliverAsync(ctx context.Context, book eventstore.Book, done func(error)) {
	a.amu.Lock()
	a.async++
	a.inflight[book.Cover]++
	a.maxInflight = max(a.maxInflight, a.inflight[book.Cover])
	a.now++
	a.most = max(a.most, a.now)
	a.amu.Unlock()
	go func() {
		wait, err := a.answer(book)
		time.Sleep(wait)
		if err == nil {
			_, err = a.Deliver(ctx, book, false)
		}
		a.amu.Lock()
		a.inflight[book.Cover]--
		a.now--
		a.amu.Unlock()
		done(err)
	}()
}

func (a *asyncRecorder) stats() (async, maxInflight, most int) {
	a.amu.Lock()
	defer a.amu.Unlock()
	return a.async, a.maxInflight, a.most
}

// Books answered out of order and some refused: each aggregate still has
// one book in flight at most, receives every event once and in order, and
// the checkpoint reaches the head; Workers bounds the books in flight.
func TestAsyncConsumerKeepsAggregateOrder(t *testing.T) {
	store := memory.New()
	var refused sync.Map // books refused once, by first position
	a := newAsyncRecorder("relay", func(b eventstore.Book) (time.Duration, error) {
		wait := time.Duration(rand.IntN(2000)) * time.Microsecond
		if rand.IntN(10) == 0 {
			if _, again := refused.LoadOrStore(fmt.Sprintf("%s/%d", b.Cover, b.Events[0].Sequence), true); !again {
				return wait, errors.New("refused by the test")
			}
		}
		return wait, nil
	})
	const inFlight = 16 // fewer than the aggregates
	sub := delivery.New(a, store, nil, fast(delivery.Options{Workers: inFlight, BatchSize: 3, MaxAttempts: 1 << 10}), quiet)
	covers := make([]eventstore.Cover, 40)
	for i := range covers {
		covers[i] = cover("a")
	}
	run(t, sub)
	for round := range 8 {
		for _, c := range covers {
			appendN(t, store, c, 1+round%2)
		}
		time.Sleep(time.Millisecond)
	}
	eventually(t, "every event", func() bool { return a.total() == len(covers)*12 })
	for _, c := range covers {
		wantSeqs(t, a.recorder, c, 12)
	}
	eventually(t, "the checkpoint at the head", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head
	})
	async, maxInflight, most := a.stats()
	if async == 0 {
		t.Fatal("no book was handed over with DeliverAsync")
	}
	if maxInflight != 1 {
		t.Errorf("up to %d books of one aggregate in flight at once, want 1", maxInflight)
	}
	if most < 8 || most > inFlight {
		t.Errorf("at most %d books in flight at once; want a pipeline of up to Workers (%d)", most, inFlight)
	}
	if st := sub.Status(); st.Retries == 0 {
		t.Errorf("no retry counted, yet books were refused")
	}
}

// A book whose answer has not come holds the checkpoint back, however
// many later books are answered.
func TestAsyncCheckpointStaysBelowUnanswered(t *testing.T) {
	store := memory.New()
	held := cover("a")
	release := make(chan struct{})
	a := newAsyncRecorder("relay", func(b eventstore.Book) (time.Duration, error) {
		if b.Cover == held {
			<-release
		}
		return 0, nil
	})
	sub := delivery.New(a, store, nil, fast(delivery.Options{Workers: 16}), quiet)
	run(t, sub)
	appendN(t, store, held, 1)
	heldAt, _ := store.Head(t.Context())
	others := make([]eventstore.Cover, 30)
	for i := range others {
		others[i] = cover("a")
		appendN(t, store, others[i], 2)
	}
	eventually(t, "every other event", func() bool { return a.total() == 60 })
	for range 50 { // the time for a checkpoint that would pass it to do so
		if cp := sub.Status().Checkpoint; cp >= heldAt {
			close(release)
			t.Fatalf("checkpoint %d passed position %d, whose book is unanswered", cp, heldAt)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(release)
	eventually(t, "the checkpoint at the head", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head && savedCheckpoint(t, store, "relay") == head
	})
	wantSeqs(t, a.recorder, held, 1)
}

// A subscription that stops while answers are on their way (longer than
// its drain) waits for them, so its last checkpoint counts them: nothing
// answered is delivered again by the next run.
func TestAsyncStopWaitsForAnswers(t *testing.T) {
	store := memory.New()
	a := newAsyncRecorder("relay", func(eventstore.Book) (time.Duration, error) {
		return 400 * time.Millisecond, nil // past the drain (a LeaseTTL of 300ms halved)
	})
	sub := delivery.New(a, store, nil, fast(delivery.Options{Workers: 32}), quiet)
	stop := run(t, sub)
	for range 10 {
		appendN(t, store, cover("a"), 2)
	}
	eventually(t, "every book handed over", func() bool { async, _, _ := a.stats(); return async == 10 })
	stop()
	head, _ := store.Head(t.Context())
	if a.total() != 20 {
		t.Fatalf("%d of 20 events answered when Run returned", a.total())
	}
	if cp := savedCheckpoint(t, store, "relay"); cp != head {
		t.Fatalf("checkpoint saved at stop: %d, want the head %d (every book was answered)", cp, head)
	}
}

// permanentErr is a refusal no retry can help.
type permanentErr struct{}

func (permanentErr) Error() string   { return "too large for the test broker" }
func (permanentErr) Permanent() bool { return true }

// A book refused for good is parked at once, with the reason; the
// aggregate's later events wait behind it, the others flow.
func TestAsyncPermanentRefusalIsParked(t *testing.T) {
	store := memory.New()
	poison, other := cover("a"), cover("a")
	a := newAsyncRecorder("relay", func(b eventstore.Book) (time.Duration, error) {
		if b.Cover == poison {
			return 0, permanentErr{}
		}
		return 0, nil
	})
	a.fail = func(b eventstore.Book) error { // the retry, with Deliver
		if b.Cover == poison {
			return permanentErr{}
		}
		return nil
	}
	sub := delivery.New(a, store, nil, fast(delivery.Options{Workers: 8}), quiet)
	run(t, sub)
	appendN(t, store, poison, 1)
	appendN(t, store, other, 3)
	appendN(t, store, poison, 1)
	eventually(t, "the other aggregate's events", func() bool { return len(a.sequences(other)) == 3 })
	eventually(t, "the poison events parked", func() bool {
		p, _ := sub.Parked(t.Context())
		return len(p) == 2
	})
	parked, _ := sub.Parked(t.Context())
	if parked[0].Reason != "too large for the test broker" || parked[0].Attempts != 1 {
		t.Errorf("first parked = %+v", parked[0])
	}
	eventually(t, "the checkpoint past the parked events", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head
	})
}

// With fewer books allowed in flight than the segments have workers, a
// segment with work still gets them out: a worker waiting for work must
// not hold room in the flight that another segment's book needs.
func TestAsyncIdleWorkersHoldNoRoom(t *testing.T) {
	store := memory.New()
	a := newAsyncRecorder("relay", func(eventstore.Book) (time.Duration, error) { return 0, nil })
	sub := delivery.New(a, store, nil, fast(delivery.Options{Workers: 1, Segments: 8}), quiet)
	run(t, sub)
	covers := make([]eventstore.Cover, 40) // spread over the segments
	for i := range covers {
		covers[i] = cover("a")
	}
	for round := range 3 {
		for _, c := range covers {
			appendN(t, store, c, 1)
		}
		eventually(t, fmt.Sprintf("round %d's events through one room of flight", round+1), func() bool {
			return a.total() == len(covers)*(round+1)
		})
	}
	for _, c := range covers {
		wantSeqs(t, a.recorder, c, 3)
	}
	if async, _, most := a.stats(); async == 0 || most != 1 {
		t.Errorf("%d books handed over asynchronously, at most %d at once; want some, one at a time", async, most)
	}
}
