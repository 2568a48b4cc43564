package sqlite_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestCheckpointer: appends committed by the writer reach the database
// file, copied from the WAL by the checkpointer, though the WAL is far
// below the thousand pages at which the writer's commit would checkpoint it
// itself (wal_autocheckpoint).
func TestCheckpointer(t *testing.T) {
	s := open(t, tempPath(t))
	size := func() int64 {
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	as := make([]eventstore.GroupAppend, 300)
	for i := range as {
		as[i] = eventstore.GroupAppend{Cover: eventstore.Cover{Domain: "orders", Root: uuid.New()},
			Pages: []eventstore.Page{{TypeURL: "t", Payload: fmt.Appendf(nil, "event %d", i)}}}
	}
	for i, r := range s.AppendGroup(t.Context(), as) {
		if r.Err != nil {
			t.Fatalf("append %d: %v", i, r.Err)
		}
	}
	for end := time.Now().Add(10 * time.Second); size() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the database file is still %d bytes 10s after 300 appends: the WAL was not checkpointed", before)
		}
	}
}
