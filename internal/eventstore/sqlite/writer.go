package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// request is one Append waiting for the writer goroutine.
//
// Its state settles who answers a caller whose ctx ends: the caller moves it
// from queued to abandoned and returns ctx.Err(), or the writer moves it from
// queued to taken and the caller waits for the real result. Exactly one of
// the two wins, so a request reported as failed is never applied.
type request struct {
	cover eventstore.Cover
	pages []eventstore.Page
	state atomic.Int32
	done  chan result // buffered: the writer never blocks on a caller
}

const (
	queued int32 = iota
	taken
	abandoned
)

type result struct {
	events []eventstore.Event
	err    error
}

// Append implements eventstore.Store. It queues the append for the writer
// goroutine and waits for the commit of the transaction that applied it.
func (s *Store) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	if len(pages) == 0 {
		return nil, nil
	}
	r := &request{cover: cover, pages: pages, done: make(chan result, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, eventstore.ErrClosed
	}
	var err error
	select {
	case res := <-r.done:
		return res.events, res.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.stopped:
		err = eventstore.ErrClosed
	}
	if r.state.CompareAndSwap(queued, abandoned) {
		return nil, err
	}
	res := <-r.done
	return res.events, res.err
}

// run is the writer goroutine: it takes what is queued, up to maxBatch
// appends, and commits them in one transaction.
func (s *Store) run() {
	defer close(s.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = r.take(batch)
		case <-s.closing:
			// Callers still queued see s.stopped and give up with ErrClosed.
			return
		}
		// Callers answered by the last commit are queueing their next
		// append right now: let them, rather than commit one now and
		// the others in the next transaction.
		runtime.Gosched()
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = r.take(batch)
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			s.commit(batch)
		}
	}
}

// take appends r to batch unless its caller has given up on it.
func (r *request) take(batch []*request) []*request {
	if r.state.CompareAndSwap(queued, taken) {
		batch = append(batch, r)
	}
	return batch
}

// commit applies batch in one transaction. When the transaction fails midway
// for a reason other than a conflict (which fails its own append only),
// nothing was committed: each append is retried in a transaction of its own,
// so that one bad append cannot fail the others. A transaction that could not
// even begin (the file stayed locked for busyTimeout) is not retried.
func (s *Store) commit(batch []*request) {
	results, began, err := s.apply(batch)
	if err != nil && began && len(batch) > 1 {
		for _, r := range batch {
			s.commit([]*request{r})
		}
		return
	}
	if err == nil {
		s.signal()
	}
	for i, r := range batch {
		if err != nil {
			r.done <- result{err: s.fail(err, "append to %s", r.cover)}
		} else {
			r.done <- results[i]
		}
	}
}

// apply runs batch in one IMMEDIATE transaction. Each append reads its
// cover's head inside the transaction, so appends to one cover in the batch
// see each other's rows. A conflicting append gets its own error in results
// and writes nothing; any other error aborts the whole transaction.
func (s *Store) apply(batch []*request) (results []result, began bool, err error) {
	// Not a caller's ctx: the transaction serves many callers, and a taken
	// request must be answered with what really happened.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	head, insert := tx.StmtContext(ctx, s.head), tx.StmtContext(ctx, s.insert)
	now := time.Now()
	results = make([]result, len(batch))
	for i, r := range batch {
		events, err := appendTx(ctx, head, insert, r.cover, r.pages, now)
		if err != nil && !errors.Is(err, eventstore.ErrConflict) {
			return nil, true, err
		}
		results[i] = result{events, err}
	}
	return results, true, tx.Commit()
}

func appendTx(ctx context.Context, head, insert *sql.Stmt, cover eventstore.Cover, pages []eventstore.Page, now time.Time) ([]eventstore.Event, error) {
	id := cover.Root.String()
	var next uint32
	var last int64
	switch err := head.QueryRowContext(ctx, cover.Domain, id).Scan(&last); {
	case err == nil:
		next = uint32(last + 1)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("head of %s: %w", cover, err)
	}
	events, err := eventstore.Assign(cover, next, pages, now)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if _, err := insert.ExecContext(ctx, cover.Domain, id, e.Sequence, e.TypeURL, blob(e.Payload), formatTime(e.CreatedAt)); err != nil {
			return nil, fmt.Errorf("insert %s/%d: %w", cover, e.Sequence, err)
		}
	}
	return events, nil
}
