package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// request is one Append waiting for the writer goroutine. Its
// eventstore.Handoff settles who answers a caller whose ctx ends: the
// caller abandons it and returns ctx.Err(), or the writer takes it and the
// caller waits for the real result. Exactly one of the two wins, so a
// request reported as failed is never applied.
type request struct {
	eventstore.Handoff[result]
	cover eventstore.Cover
	pages []eventstore.Page
	key   *eventstore.Key          // stored with the events; nil for a plain append
	plan  *eventstore.DeadlinePlan // applied with the events; nil: none
	fired *eventstore.Deadline     // removed with the events (AppendGroup); nil: none
}

// newRequest is a request for an append of pages to cover, to be given
// its key, plan or fired deadline.
func newRequest(cover eventstore.Cover, pages []eventstore.Page) *request {
	return &request{Handoff: eventstore.Handoff[result]{Done: make(chan result, 1)}, cover: cover, pages: pages}
}

type result struct {
	events []eventstore.Event
	prior  *eventstore.KeyRecord // the live key found instead of appending
	err    error
	fired  bool // the request's fired deadline was removed
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
	res := s.submit(ctx, newRequest(cover, pages))
	return res.events, res.err
}

// submit queues r for the writer goroutine and waits for its result, or
// writes r itself when the store is writing appends one at a time (see
// inline).
func (s *Store) submit(ctx context.Context, r *request) result {
	if res, ok := s.inline(r); ok {
		return res
	}
	if err := s.send(ctx, r); err != nil {
		return result{err: err}
	}
	return s.await(ctx, r)
}

// inline writes r on the caller's goroutine, as a batch of its own, when
// the latest inlineAfter batches held one append each, none is queued and
// none is being written: appends come one at a time, so the writer
// goroutine would commit r alone anyway. Writing it here saves the two
// goroutine hand-offs, to the writer and back, each of which may wake a
// thread on a machine left idle by the fsync (about 3% of a one-client
// command on 2 cores). Under concurrency batches hold more than one append,
// and every append goes through the writer, which groups them. It
// reports false when r is to be queued.
func (s *Store) inline(r *request) (result, bool) {
	if s.singles.Load() < inlineAfter || len(s.reqs) > 0 || !s.writing.TryLock() {
		return result{}, false
	}
	defer s.writing.Unlock()
	if s.closed() {
		return result{err: eventstore.ErrClosed}, true
	}
	r.MarkTaken()
	s.inlined.Add(1)
	s.counted(1)
	return s.commit([]*request{r})[0], true
}

// inlineAfter is how many batches of one append in a row let a caller
// write its append itself: one client's appends, not a lull between the
// batches of many (those would be cut into single commits).
const inlineAfter = 8

// counted records a batch of n appends.
func (s *Store) counted(n int) {
	s.lastBatch.Store(int32(n))
	if n == 1 {
		s.singles.Add(1)
	} else {
		s.singles.Store(0)
	}
}

// send queues r for the writer goroutine.
func (s *Store) send(ctx context.Context, r *request) error {
	return eventstore.Queue(ctx, s.reqs, r, s.closing)
}

// await waits for the result of r, queued by send; once the writer took
// r, for the real result (the writer is in this process, and answers).
func (s *Store) await(ctx context.Context, r *request) result {
	res, err, abandoned := r.Await(ctx, s.stopped)
	switch {
	case err == nil:
		return res
	case abandoned:
		return result{err: err}
	}
	return <-r.Done
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
		s.begun.Add(1)
		s.writing.Lock()
		// The callers answered by the last commit may be queueing their next
		// appends right now: let them join this batch (one fsync fewer).
		eventstore.AwaitRequeue(int(s.lastBatch.Load()), func() int { return len(s.reqs) })
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = r.take(batch)
			default:
				break drain
			}
		}
		s.counted(len(batch))
		var results []result
		if len(batch) > 0 {
			results = s.commit(batch)
		}
		s.writing.Unlock()
		answer(batch, results)
	}
}

// take appends r to batch unless its caller has given up on it.
func (r *request) take(batch []*request) []*request {
	if r.Take() {
		batch = append(batch, r)
	}
	return batch
}

// commit applies batch in one transaction. When the transaction fails midway
// for a reason other than a conflict (which fails its own append only),
// nothing was committed: each append is retried in a transaction of its own,
// so that one bad append cannot fail the others. A transaction that could not
// even begin (the file stayed locked for busyTimeout) is not retried, nor
// is one whose COMMIT failed: it may have reached the disk, so each of its
// appends is answered with an *eventstore.InDoubtError, never applied again
// (unless the COMMIT failed with SQLITE_FULL: then its last WAL frame, the
// commit mark, was never written, and it is eventstore.ErrFull).
func (s *Store) commit(batch []*request) []result {
	results, st, err := s.apply(batch)
	if err != nil && st == midway && staleHead(err) {
		// A head kept was behind: another process appended to the cover
		// since. Nothing was stored; run the batch again from the heads
		// as stored. The heads kept of other covers stay: one behind is
		// caught the same way when its turn comes.
		for _, r := range batch {
			delete(s.heads, r.cover)
		}
		s.staleHeads.Add(1)
		results, st, err = s.apply(batch)
	}
	if err != nil && st == midway && len(batch) > 1 {
		results = results[:0]
		for _, r := range batch {
			results = append(results, s.commit([]*request{r})...)
		}
		return results
	}
	if err == nil {
		s.signal()
		return results
	}
	if st == committing {
		clear(s.heads) // the commit may have happened: heads are read again
		if isFull(err) {
			// The WAL got none or part of the transaction's frames, never
			// the last one, which marks the commit: nothing was stored.
			// Whether SQLite rolled back by itself or not, the next
			// BEGIN must find no transaction open.
			_, _ = s.w.Exec("ROLLBACK") // fails when SQLite rolled back itself
		}
	}
	results = make([]result, len(batch))
	for i, r := range batch {
		if st == committing && !s.closed() && !isFull(err) {
			results[i] = result{err: &eventstore.InDoubtError{Op: fmt.Sprintf("sqlite: append to %s: commit", r.cover), Err: err}}
		} else {
			results[i] = result{err: s.fail(err, "append to %s", r.cover)}
		}
	}
	return results
}

// answer hands each request of batch its result, once the batch is no
// longer being written (s.writing released): a caller answered may write
// its next append itself at once (see inline).
func answer(batch []*request, results []result) {
	for i, r := range batch {
		r.Answer(results[i])
	}
}

// stage is how far apply got when it failed.
type stage int

const (
	beginning  stage = iota // nothing done
	midway                  // rolled back: nothing stored
	committing              // COMMIT failed: the outcome is unknown
)

// apply runs batch in one IMMEDIATE transaction. Each append starts from
// its cover's head as of the transaction, so appends to one cover in the
// batch see each other's rows. A conflicting append gets its own error in
// results and writes nothing; any other error aborts the whole transaction.
//
// Heads come from a cache kept by the writer (the holder of s.writing),
// filled from the table on a miss and updated after each commit. Another
// process on the same file may have appended to a cover since: sequences
// only grow, so a head kept is the cover's head or behind it, never ahead.
// Behind, the insert at a sequence taken fails on the events' unique index
// (staleHead) and commit runs the batch again with the heads read; a
// numbered append that does not fit the head kept is checked against the
// head as stored (applyRun) before it is called a conflict. So no batch
// reads the heads it keeps, nor asks whether anyone else wrote (PRAGMA
// data_version, about 11 µs of a one-event commit's 180). The write lock,
// taken by BEGIN IMMEDIATE, keeps anyone from committing while the batch
// runs.
func (s *Store) apply(batch []*request) (results []result, st stage, err error) {
	// Not a caller's ctx: the transaction serves many callers, and a taken
	// request must be answered with what really happened.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, beginning, err
	}
	defer tx.Rollback()
	if len(s.heads) > maxCachedHeads {
		clear(s.heads)
	}
	if err := s.readHeads(ctx, tx, batch); err != nil {
		return nil, midway, err
	}
	head := tx.StmtContext(ctx, s.head)
	now := time.Now()
	results = make([]result, len(batch))
	next := make(map[eventstore.Cover]uint32, len(batch)) // heads after this batch's appends
	var fired []int                                       // requests whose deadline is removed
	for i := 0; i < len(batch); {
		j := runEnd(batch, i)
		if err := s.applyRun(ctx, tx, head, batch[i:j], results[i:j], next, now); err != nil {
			return nil, midway, err
		}
		for k := i; k < j; k++ {
			if results[k].fired {
				fired = append(fired, k)
			}
		}
		i = j
	}
	if len(fired) > 0 {
		ds := make([]eventstore.Deadline, len(fired))
		for j, i := range fired {
			ds[j] = *batch[i].fired
		}
		if err := s.firedTx(ctx, tx, ds); err != nil {
			return nil, midway, fmt.Errorf("remove fired deadlines: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, committing, err
	}
	for c, n := range next {
		s.heads[c] = n
	}
	return results, committing, nil
}

// purgeKeys deletes up to eventstore.MaxPurge expired idempotency keys when
// it is time: at once again while a purge finds a full load, else a second
// later (expired keys are never found by a lookup; the purge only bounds
// the table).
func (s *Store) purgeKeys(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if now.Before(s.purgeAfter) {
		return nil
	}
	res, err := tx.StmtContext(ctx, s.keyPurge).ExecContext(ctx, formatTime(now), eventstore.MaxPurge)
	if err != nil {
		return fmt.Errorf("purge expired keys: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n < eventstore.MaxPurge {
		s.purgeAfter = now.Add(time.Second)
	}
	return nil
}

// readHeads reads into the head cache, in one statement per 256, the heads
// of batch's covers it lacks, when there are several (a group of fired
// deadlines, each for an aggregate of its own): a statement costs more
// than the row it reads. The write lock is held, so they stay valid until
// the commit, which updates them.
func (s *Store) readHeads(ctx context.Context, tx *sql.Tx, batch []*request) error {
	var missing []eventstore.Cover
	seen := map[eventstore.Cover]bool{}
	for _, r := range batch {
		if _, ok := s.heads[r.cover]; !ok && !seen[r.cover] {
			seen[r.cover] = true
			missing = append(missing, r.cover)
		}
	}
	for len(missing) > 1 {
		part := missing[:min(len(missing), headsPerStatement)]
		missing = missing[len(part):]
		class := sizeClass(len(part))
		st, err := s.sized.get(ctx, s.w, headsSQL(class)) // prepared by open
		if err != nil {
			return err
		}
		byKey := make(map[coverKey]eventstore.Cover, len(part))
		args := make([]any, 0, 2*class)
		for _, c := range part {
			k := coverKey{c.Domain, c.Root.String()}
			byKey[k] = c
			args = append(args, k.domain, k.root)
		}
		for range class - len(part) {
			args = append(args, "", "") // the domain "" has no events
		}
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("heads of %d aggregates: %w", len(part), err)
		}
		for rows.Next() {
			var k coverKey
			var last sql.NullInt64
			if err := rows.Scan(&k.domain, &k.root, &last); err != nil {
				rows.Close()
				return fmt.Errorf("heads of %d aggregates: %w", len(part), err)
			}
			c, ok := byKey[k]
			if !ok {
				continue // padding
			}
			s.heads[c] = 0
			if last.Valid {
				s.heads[c] = uint32(last.Int64 + 1)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("heads of %d aggregates: %w", len(part), err)
		}
	}
	return nil
}

// headsSQL reads the last sequence (NULL: none) of rows (domain,
// aggregate_id) pairs.
func headsSQL(rows int) string {
	return `WITH w(d, a) AS (VALUES ` + valuesList("(?, ?)", rows) + `)
		SELECT w.d, w.a, (SELECT sequence FROM events WHERE domain = w.d AND aggregate_id = w.a ORDER BY sequence DESC LIMIT 1) FROM w`
}

// maxCachedHeads bounds the head cache; past it, it starts over.
const maxCachedHeads = 1 << 16

// readHead returns the next sequence of cover as stored.
func readHead(ctx context.Context, head *sql.Stmt, cover eventstore.Cover) (uint32, error) {
	var last int64
	switch err := head.QueryRowContext(ctx, cover.Domain, cover.Root.String()).Scan(&last); {
	case err == nil:
		return uint32(last + 1), nil
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	default:
		return 0, fmt.Errorf("head of %s: %w", cover, err)
	}
}

// maxRun bounds the appends of a run (runEnd), and so the rows of the
// statements that store them.
const maxRun = 128

// runEnd returns the end of the run of batch that starts at i: the appends
// from i on up to the first whose cover or key another of the run has
// (which must see that one's rows), at most maxRun.
func runEnd(batch []*request, i int) int {
	if i+1 == len(batch) {
		return i + 1
	}
	covers := make(map[eventstore.Cover]bool, min(len(batch)-i, maxRun))
	keys := make(map[string]bool, min(len(batch)-i, maxRun))
	j := i
	for ; j < len(batch) && j-i < maxRun; j++ {
		r := batch[j]
		if covers[r.cover] || r.key != nil && keys[r.key.ID] {
			break
		}
		covers[r.cover] = true
		if r.key != nil {
			keys[r.key.ID] = true
		}
	}
	return j
}

// applyRun applies run, appends to distinct covers with distinct keys, in
// tx, setting their results and next (the covers' heads after them): as
// one append after the other would, but with the keys of all taken by one
// statement and the events of all stored by another (a statement costs
// more than the rows it writes). Each append is still checked on its own:
// its sequences against its cover's head, its key against those stored
// (a repeat is answered with the stored record, nothing stored), and a
// conflicting one stores neither events nor key.
func (s *Store) applyRun(ctx context.Context, tx *sql.Tx, head *sql.Stmt, run []*request, results []result, next map[eventstore.Cover]uint32, now time.Time) error {
	froms := make([]uint32, len(run))
	events := make([][]eventstore.Event, len(run))
	conflicts := make([]error, len(run))
	var keyed []int // the appends whose keys are taken (all but conflicting ones)
	purge := false
	for k, r := range run {
		from, ok := next[r.cover]
		kept := false
		var err error
		if !ok {
			if from, kept = s.heads[r.cover]; !kept {
				if from, err = readHead(ctx, head, r.cover); err != nil {
					return err
				}
			}
		}
		events[k], err = eventstore.Assign(r.cover, from, r.pages, now)
		if kept && errors.Is(err, eventstore.ErrConflict) {
			// The head kept may be behind the stored one (see apply).
			if from, err = readHead(ctx, head, r.cover); err != nil {
				return err
			}
			s.heads[r.cover] = from
			events[k], err = eventstore.Assign(r.cover, from, r.pages, now)
		}
		froms[k] = from
		if err != nil && !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		conflicts[k] = err
		if r.key != nil {
			purge = true
			if err == nil {
				keyed = append(keyed, k)
			}
		}
	}
	if purge {
		if err := s.purgeKeys(ctx, tx, now); err != nil {
			return err
		}
	}
	taken, err := s.putKeys(ctx, tx, run, keyed, froms, now)
	if err != nil {
		return fmt.Errorf("store idempotency keys: %w", err)
	}
	var stored []int // the appends whose events are stored
	for k, r := range run {
		if r.key != nil && (conflicts[k] != nil || !taken[r.key.ID]) {
			// A live key has it (a repeat, or a conflicting append
			// retried after its first try was stored): its record is the
			// answer. A conflicting append with a key not stored fails.
			rec, ok, err := readKey(ctx, tx.StmtContext(ctx, s.keyGet), r.key.ID, now)
			if err != nil {
				return err
			}
			switch {
			case ok:
				results[k] = result{prior: &rec}
				if rec.Fingerprint != r.key.Fingerprint {
					results[k].err = &eventstore.KeyMismatchError{Key: r.key.ID}
				} else {
					results[k].fired = r.fired != nil
				}
				continue
			case conflicts[k] == nil:
				return fmt.Errorf("idempotency key %q neither taken nor found", r.key.ID)
			}
		}
		if conflicts[k] != nil {
			next[r.cover] = froms[k]
			results[k] = result{err: conflicts[k]}
			continue
		}
		stored = append(stored, k)
	}
	if err := s.insertEvents(ctx, tx, run, stored, events); err != nil {
		return err
	}
	for _, k := range stored {
		r := run[k]
		if r.plan != nil {
			if _, err := cancelTx(ctx, tx, r.plan.Cancel); err != nil {
				return fmt.Errorf("cancel deadlines: %w", err)
			}
			if err := scheduleTx(ctx, tx, r.plan.Schedule, now); err != nil {
				return fmt.Errorf("schedule deadlines: %w", err)
			}
		}
		next[r.cover] = froms[k] + uint32(len(events[k]))
		results[k] = result{events: events[k], fired: r.fired != nil}
	}
	return nil
}

// putKeys takes the keys of run[keyed] for the events about to be stored,
// in as few statements as it can, and returns the IDs of those taken: a
// key a live one has (a repeat) is not.
func (s *Store) putKeys(ctx context.Context, tx *sql.Tx, run []*request, keyed []int, froms []uint32, now time.Time) (map[string]bool, error) {
	if len(keyed) == 0 {
		return nil, nil
	}
	taken := make(map[string]bool, len(keyed))
	created := formatTime(now)
	for _, n := range rowCounts(len(keyed), maxRun) {
		st, err := s.sized.get(ctx, s.w, keysSQL(n)) // prepared by open
		if err != nil {
			return nil, err
		}
		args := make([]any, 0, 8*n)
		for _, k := range keyed[:n] {
			r := run[k]
			args = append(args, r.key.ID, r.key.Fingerprint[:], r.cover.Domain, r.cover.Root.String(),
				froms[k], froms[k]+uint32(len(r.pages)), created, formatTime(now.Add(r.key.TTL)))
		}
		keyed = keyed[n:]
		rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			taken[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return taken, nil
}

// insertEvents stores the events of run[stored], in order, in as few
// statements as it can.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, run []*request, stored []int, events [][]eventstore.Event) error {
	rows := 0
	for _, k := range stored {
		rows += len(events[k])
	}
	if rows == 0 {
		return nil
	}
	counts := rowCounts(rows, maxRun)
	args := make([]any, 0, eventColumns*counts[0])
	// The events of a batch mostly share one time (the batch's): format
	// it once.
	var at time.Time
	var atText string
	for _, k := range stored {
		id := run[k].cover.Root.String()
		for _, e := range events[k] {
			if atText == "" || !e.CreatedAt.Equal(at) {
				at, atText = e.CreatedAt, formatTime(e.CreatedAt)
			}
			args = append(args, run[k].cover.Domain, id, e.Sequence, e.TypeURL, blob(e.Payload), atText)
			args = append(args, causeArgs(e.Cause, e.SchemaVersion)...)
			if len(args) < eventColumns*counts[0] {
				continue
			}
			if err := s.insertRows(ctx, tx, counts[0], args); err != nil {
				return err
			}
			args, counts = args[:0], counts[1:]
		}
	}
	return nil
}

// eventColumns is the number of columns eventsSQL inserts a row.
const eventColumns = 13

func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, n int, args []any) error {
	st, err := s.sized.get(ctx, s.w, eventsSQL(n)) // prepared by open
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert %d events: %w", n, err)
	}
	return nil
}

// rowCounts splits n rows into statements of most rows, then of powers of
// two for the rest (largest first), so that few statements of few sizes,
// all prepared once, store any number.
func rowCounts(n, most int) []int {
	var out []int
	for ; n >= most; n -= most {
		out = append(out, most)
	}
	for c := most / 2; c > 0; c /= 2 {
		if n >= c {
			out = append(out, c)
			n -= c
		}
	}
	return out
}

// eventsSQL inserts rows events.
//
// OR FAIL: a failed statement keeps the rows it inserted before the
// failure, where the default (ABORT) undoes them, which has SQLite copy
// every page a statement of many rows changes into a statement journal
// first, in case (about a sixth of what a batch of 16 one-event appends
// costs beyond the floor's single-row INSERTs, which need none). Nothing
// here needs that undo: any failed statement fails the whole transaction,
// which is rolled back (apply).
func eventsSQL(rows int) string {
	return `INSERT OR FAIL INTO events (domain, aggregate_id, sequence, type_url, payload, created_at, ` + causeColumns + `)
		VALUES ` + valuesList("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
}

// keysSQL takes rows keys, each unless a live one of its ID is stored (no
// row changed then; an expired one is replaced), and returns the IDs of
// those taken. OR FAIL as in eventsSQL.
func keysSQL(rows int) string {
	return `INSERT OR FAIL INTO idempotency_keys
		(id, fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at)
		VALUES ` + valuesList("(?, ?, ?, ?, ?, ?, ?, ?)", rows) + `
		ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, domain = excluded.domain,
			aggregate_id = excluded.aggregate_id, first_sequence = excluded.first_sequence,
			end_sequence = excluded.end_sequence, created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= excluded.created_at
		RETURNING id`
}
