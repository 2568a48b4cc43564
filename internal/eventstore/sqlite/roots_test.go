package sqlite_test

import (
	"database/sql"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/sqlite"
)

// A caller of Roots that is slow to take the covers (a client that opens
// GetAggregateRoots and does not read) holds no read transaction: while
// it waits, appends go on and a checkpoint empties the WAL. Before, one
// statement streamed every cover from a single transaction and the WAL
// grew for as long as the client waited.
func TestRootsHoldsNoTransactionWhileTheCallerWaits(t *testing.T) {
	path := tempPath(t)
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const covers = 2500 // more than one page
	var want []eventstore.Cover
	for i := range covers {
		c := eventstore.Cover{Domain: []string{"a", "b", "c"}[i%3], Root: uuid.New()}
		if _, err := s.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E", Payload: make([]byte, 100)}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}

	waiting, release := make(chan struct{}), make(chan struct{})
	var got []eventstore.Cover
	done := make(chan error, 1)
	go func() {
		done <- s.Roots(t.Context(), func(c eventstore.Cover) error {
			if len(got) == 1100 { // in the second page
				close(waiting)
				<-release
			}
			got = append(got, c)
			return nil
		})
	}()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("Roots did not reach its second page")
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Appends go on while the caller waits; each checkpoint must complete.
	late := eventstore.Cover{Domain: "a", Root: uuid.New()}
	for round := range 5 {
		for range 100 {
			if _, err := s.Append(t.Context(), late, []eventstore.Page{{TypeURL: "E", Payload: make([]byte, 4096)}}); err != nil {
				t.Fatal(err)
			}
		}
		var busy, logPages, checkpointed int
		if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &checkpointed); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if busy != 0 || fi.Size() != 0 {
			t.Fatalf("round %d: checkpoint busy=%d, WAL %d bytes: a read transaction is held open while the caller of Roots waits", round, busy, fi.Size())
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b eventstore.Cover) int {
		if a.Domain != b.Domain {
			if a.Domain < b.Domain {
				return -1
			}
			return 1
		}
		return slices.Compare(a.Root[:], b.Root[:])
	})
	// late sorts into a page already read or not: either way each cover
	// is listed once, in order.
	got = slices.DeleteFunc(got, func(c eventstore.Cover) bool { return c == late })
	if !slices.Equal(got, want) {
		t.Errorf("Roots listed %d covers, want the %d stored, in order", len(got), len(want))
	}
}
