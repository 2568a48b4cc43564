package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/eventstore/storetest"
	"github.com/google/uuid"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempPath(t *testing.T) string {
	// A directory that does not exist yet: Open creates it.
	return filepath.Join(t.TempDir(), "data", "events.db")
}

func TestStore(t *testing.T) {
	storetest.RunStore(t, storetest.Backend{
		Open: func(t *testing.T) eventstore.Store { return open(t, tempPath(t)) },
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			return open(t, s.(*sqlite.Store).Path())
		},
	})
}

func TestMarks(t *testing.T) {
	storetest.RunMarks(t, func(t *testing.T) eventstore.Marks { return open(t, tempPath(t)) })
}

func TestSnapshots(t *testing.T) {
	storetest.RunSnapshots(t, func(t *testing.T) eventstore.Snapshots { return open(t, tempPath(t)) })
}

// TestSchema checks the table layout the SPEC promises to people using the
// sqlite3 shell, with a plain connection.
func TestSchema(t *testing.T) {
	ctx := t.Context()
	s := open(t, tempPath(t))
	cover := eventstore.Cover{Domain: "customer", Root: uuid.MustParse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8")}
	at := time.Date(2026, 11, 26, 10, 21, 42, 123456789, time.UTC)
	if _, err := s.Append(ctx, cover, []eventstore.Page{
		{TypeURL: "type.googleapis.com/examples.CustomerCreated", Payload: []byte("p0"), CreatedAt: at},
		{TypeURL: "type.googleapis.com/examples.LoyaltyPointsAdded", Payload: []byte("p1"), CreatedAt: at.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	if s.Version() != 11 {
		t.Errorf("Version() = %d; want 11", s.Version())
	}
	db := rawDB(t, s.Path())
	rows, err := db.QueryContext(ctx, `SELECT position, domain, aggregate_id, sequence, type_url, created_at
		FROM events ORDER BY created_at DESC LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var pos, seq int
		var domain, id, typeURL, createdAt string
		if err := rows.Scan(&pos, &domain, &id, &seq, &typeURL, &createdAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s %d %s %s", pos, domain, id, seq, typeURL, createdAt))
	}
	want := []string{
		"2 customer 6ba7b810-9dad-11d1-80b4-00c04fd430c8 1 type.googleapis.com/examples.LoyaltyPointsAdded 2026-11-26T10:21:43.123456789Z",
		"1 customer 6ba7b810-9dad-11d1-80b4-00c04fd430c8 0 type.googleapis.com/examples.CustomerCreated 2026-11-26T10:21:42.123456789Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var mode, snapCols string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT group_concat(name, ',') FROM pragma_table_info('snapshots')`).Scan(&snapCols); err != nil {
		t.Fatal(err)
	}
	if snapCols != "domain,aggregate_id,sequence,type_url,state,created_at" {
		t.Errorf("snapshots columns = %s", snapCols)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestNewerSchemaRefused(t *testing.T) {
	path := tempPath(t)
	if err := open(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, path).ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a file with schema version 99 succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Errorf("err = %v; want it to name the newer version", err)
	}
}

func TestOptions(t *testing.T) {
	s, err := sqlite.Open(t.Context(), tempPath(t), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatalf("Sync normal: %v", err)
	}
	s.Close()
	if _, err := sqlite.Open(t.Context(), tempPath(t), sqlite.Options{Sync: "off"}); err == nil || !strings.Contains(err.Error(), "full, normal") {
		t.Errorf("Sync off: err = %v; want an error listing the known modes", err)
	}
}

// TestFailedAppendNotApplied races short deadlines against the writer
// goroutine: an append that reports failure must not have been applied, so
// the writer's next append at the same sequence must not conflict.
func TestFailedAppendNotApplied(t *testing.T) {
	ctx := t.Context()
	s := open(t, tempPath(t))
	const writers, appends = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
		wg.Go(func() {
			var seq uint32
			for attempt := 0; seq < appends; attempt++ {
				if attempt == 50*appends {
					t.Errorf("writer %d: %d appends after %d attempts", w, seq, attempt)
					return
				}
				actx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				_, err := s.Append(actx, cover, []eventstore.Page{{HasNum: true, Num: seq, TypeURL: "t"}})
				cancel()
				switch {
				case err == nil:
					seq++
				case errors.Is(err, context.DeadlineExceeded):
				default:
					t.Errorf("writer %d: append %d: %v (an append reported as failed was applied?)", w, seq, err)
					return
				}
			}
			if events, err := s.Read(ctx, cover, 0, 0); err != nil || len(events) != appends {
				t.Errorf("writer %d: %d events stored, %v; want %d", w, len(events), err, appends)
			}
		})
	}
	wg.Wait()
}

// TestCloseDuringAppends closes the store under concurrent appends: each
// append is either acknowledged and stored, or fails with ErrClosed and is
// not stored.
func TestCloseDuringAppends(t *testing.T) {
	ctx := t.Context()
	s := open(t, tempPath(t))
	const writers = 16
	acked := make([]uint32, writers)
	covers := make([]eventstore.Cover, writers)
	var wg sync.WaitGroup
	for w := range writers {
		covers[w] = eventstore.Cover{Domain: "d", Root: uuid.New()}
		wg.Go(func() {
			for seq := range uint32(10_000) {
				_, err := s.Append(ctx, covers[w], []eventstore.Page{{HasNum: true, Num: seq, TypeURL: "t"}})
				if errors.Is(err, eventstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("writer %d: append %d: %v", w, seq, err)
					return
				}
				acked[w]++
			}
			t.Errorf("writer %d: store still open after 10000 appends", w)
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = open(t, s.Path())
	for w, c := range covers {
		events, err := s.Read(ctx, c, 0, 0)
		if err != nil || uint32(len(events)) != acked[w] {
			t.Errorf("writer %d: %d events stored (%v); %d acknowledged", w, len(events), err, acked[w])
		}
	}
}

// TestGroupCommit queues appends behind a write lock held by another
// connection: when it is released, they commit together, in at most two
// transactions (the writer may have taken a first batch before blocking).
// A failing append (a trigger rejects it) fails alone.
func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	s := open(t, tempPath(t))
	db := rawDB(t, s.Path())
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.type_url = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poison rejected'); END`); err != nil {
		t.Fatal(err)
	}
	const n = 16
	for _, poisoned := range []int{-1, n / 2} {
		cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
		var mu sync.Mutex
		times := map[time.Time]bool{}
		behindLock(t, db, n, func(i int) {
			typeURL := "t"
			if i == poisoned {
				typeURL = "poison"
			}
			events, err := s.Append(ctx, cover, []eventstore.Page{{TypeURL: typeURL}})
			switch {
			case i == poisoned:
				if err == nil || errors.Is(err, eventstore.ErrConflict) || !strings.Contains(err.Error(), "poison rejected") {
					t.Errorf("poisoned append: err = %v; want the trigger's error", err)
				}
			case err != nil:
				t.Errorf("append %d next to poisoned %d: %v", i, poisoned, err)
			default:
				mu.Lock()
				times[events[0].CreatedAt] = true
				mu.Unlock()
			}
		})
		want := n
		if poisoned >= 0 {
			want--
		} else if len(times) > 2 {
			// One transaction has one commit time.
			t.Errorf("%d queued appends committed at %d times; want at most 2 transactions", n, len(times))
		}
		if events, err := s.Read(ctx, cover, 0, 0); err != nil || len(events) != want {
			t.Errorf("cover has %d events, %v; want %d", len(events), err, want)
		}
	}
}

// behindLock runs fn(0..n-1) concurrently while another connection holds
// the write lock, then releases it and waits for them.
func behindLock(t *testing.T, db *sql.DB, n int, fn func(i int)) {
	t.Helper()
	lock, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(t.Context(), "INSERT INTO snapshots VALUES ('lock', 'lock', 0, '', x'', '')"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	time.Sleep(100 * time.Millisecond)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// TestTwoStoresOnOneFile: the writer caches heads; another process writing
// the same file must not make it reuse or skip a sequence.
func TestTwoStoresOnOneFile(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	a, b := open(t, path), open(t, path)
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	for _, s := range []*sqlite.Store{a, b, a, b} {
		if _, err := s.Append(ctx, cover, []eventstore.Page{{TypeURL: "E"}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Append(ctx, cover, []eventstore.Page{{HasNum: true, Num: 3, TypeURL: "stale"}})
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) || conflict.Actual != 4 {
		t.Fatalf("append with a stale view: %v, want a conflict at 4", err)
	}
	events, err := b.Read(ctx, cover, 0, 0)
	if err != nil || len(events) != 4 {
		t.Fatalf("read %d events, %v; want 4", len(events), err)
	}
	for i, e := range events {
		if e.Sequence != uint32(i) {
			t.Fatalf("sequences %v", events)
		}
	}
}

func TestSegments(t *testing.T) {
	storetest.RunSegments(t, func(t *testing.T) storetest.SegmentStore { return open(t, tempPath(t)) })
}

// TestSegmentsTwoProcesses has two Stores on one file, as two processes
// would, race to acquire one segment: the IMMEDIATE transaction lets
// exactly one of them win, every round.
func TestSegmentsTwoProcesses(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	const (
		rounds  = 20
		perSide = 4
	)
	var last uint64
	for round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []eventstore.Lease
		gate := make(chan struct{})
		for i := range 2 * perSide {
			wg.Go(func() {
				<-gate
				l, ok, err := stores[i%2].Acquire(ctx, "receipt", 0, 1, fmt.Sprintf("p%d-g%d", i%2, i), time.Minute, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, l)
					mu.Unlock()
				}
			})
		}
		close(gate)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners; want 1: %+v", round, len(winners), winners)
		}
		if winners[0].Token <= last {
			t.Fatalf("round %d: token %d after %d; want it to grow", round, winners[0].Token, last)
		}
		last = winners[0].Token
		// Released through either process's Store: the row is shared.
		if err := stores[round%2].Release(ctx, winners[0]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdempotency(t *testing.T) {
	storetest.RunIdempotency(t, func(t *testing.T) storetest.IdempotentStore { return open(t, tempPath(t)) })
}

// TestKeyAcrossStores races one idempotency key through two stores on one
// file, as two evented processes would: one append is stored.
func TestKeyAcrossStores(t *testing.T) {
	path := tempPath(t)
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	key := eventstore.Key{ID: "pay-1", TTL: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range 16 {
		wg.Go(func() {
			events, prior, err := stores[i%2].AppendKeyed(t.Context(), cover, []eventstore.Page{{TypeURL: "Paid"}}, key)
			if err != nil || (prior == nil) == (len(events) == 0) {
				t.Errorf("AppendKeyed: %d events, prior %v, err %v", len(events), prior, err)
			}
			mu.Lock()
			stored += len(events)
			mu.Unlock()
		})
	}
	wg.Wait()
	if got, _ := stores[0].Read(t.Context(), cover, 0, 0); stored != 1 || len(got) != 1 {
		t.Errorf("%d appends reported stored, %d events in the stream; want 1 and 1", stored, len(got))
	}
}

// TestAppendedSeesAnotherProcess: a commit through another Store on the
// file (another process) wakes this Store's readers within milliseconds,
// not at their next poll.
func TestAppendedSeesAnotherProcess(t *testing.T) {
	path := tempPath(t)
	reader, writer := open(t, path), open(t, path)
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	for i := range 5 {
		wake := reader.Appended()
		if _, err := writer.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "E"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
		case <-time.After(time.Second):
			t.Fatalf("append %d by the other Store did not wake this one's readers within 1s", i)
		}
	}
}

func TestProjections(t *testing.T) {
	storetest.RunProjections(t, func(t *testing.T) eventstore.Projections { return open(t, filepath.Join(t.TempDir(), "events.db")) })
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, func(t *testing.T) storetest.DeadlineStore { return open(t, tempPath(t)) },
		func(t *testing.T, s storetest.DeadlineStore) storetest.DeadlineStore {
			s.Close()
			return open(t, s.(*sqlite.Store).Path())
		})
}

// A group's appends to aggregates another process wrote (so not in this
// store's head cache, whose heads it reads in one statement) start at
// their stored heads: numbered pages there are stored, numbered pages
// elsewhere conflict, and a new aggregate starts at 0.
func TestAppendGroupReadsStoredHeads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	other, s := open(t, path), open(t, path)
	covers := make([]eventstore.Cover, 4)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: "group", Root: uuid.New()}
		if i == 3 {
			continue // never written
		}
		if _, err := other.Append(t.Context(), covers[i], make([]eventstore.Page, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	page := func(num uint32) []eventstore.Page { return []eventstore.Page{{TypeURL: "t", HasNum: true, Num: num}} }
	res := s.AppendGroup(t.Context(), []eventstore.GroupAppend{
		{Cover: covers[0], Pages: page(1)},
		{Cover: covers[1], Pages: page(2)},
		{Cover: covers[2], Pages: page(2)}, // its head is 3
		{Cover: covers[3], Pages: page(0)},
	})
	for i, want := range []uint32{1, 2, 0, 0} {
		if i == 2 {
			var c *eventstore.ConflictError
			if !errors.As(res[i].Err, &c) || c.Actual != 3 {
				t.Fatalf("append %d: %v, want a conflict at 3", i, res[i].Err)
			}
			continue
		}
		if res[i].Err != nil || len(res[i].Events) != 1 || res[i].Events[0].Sequence != want {
			t.Fatalf("append %d: %+v, want sequence %d stored", i, res[i], want)
		}
	}
}
