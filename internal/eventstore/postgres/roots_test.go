package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// A caller of Roots that is slow to take the covers (a client that opens
// GetAggregateRoots and does not read) holds no connection and no
// transaction while it waits: nothing of the store's is open on the
// server, so nothing holds back vacuum.
func TestRootsHoldsNoTransactionWhileTheCallerWaits(t *testing.T) {
	name := fmt.Sprintf("evented_roots_%d", time.Now().UnixNano())
	url := freshSchema(t) + "&application_name=" + name
	s := open(t, url)
	const covers = 1500 // more than one page
	for i := range covers {
		c := eventstore.Cover{Domain: "d", Root: uuid.New()}
		if _, err := s.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E", Payload: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	waiting, release := make(chan struct{}), make(chan struct{})
	listed := 0
	done := make(chan error, 1)
	go func() {
		done <- s.Roots(t.Context(), func(eventstore.Cover) error {
			if listed == 1100 { // in the second page
				close(waiting)
				<-release
			}
			listed++
			return nil
		})
	}()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("Roots did not reach its second page")
	}
	conn := admin(t, serverURL(t))
	var busy int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND (state <> 'idle' OR backend_xmin IS NOT NULL OR xact_start IS NOT NULL)`, name).Scan(&busy)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Errorf("%d of the store's connections are in a query or transaction while the caller of Roots waits", busy)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if listed != covers {
		t.Errorf("Roots listed %d covers, want %d", listed, covers)
	}
}
