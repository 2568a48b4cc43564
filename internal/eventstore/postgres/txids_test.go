package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/postgres"
)

// A schema whose stored positions are ahead of the cluster's transaction
// ids (a database restored into another cluster) is refused at Open with
// the numbers and the way forward, instead of delivery stopping silently.
func TestOpenRefusesPositionsAheadOfTheClusterTxids(t *testing.T) {
	url := freshSchema(t)
	s := open(t, url)
	if _, err := s.Append(t.Context(), eventstore.Cover{Domain: "orders", Root: uuid.New()}, []eventstore.Page{{TypeURL: "t"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, err := postgres.Open(t.Context(), url, postgres.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("Open of a schema whose positions the cluster has passed: %v", err)
	}
	again.Close()

	// As if restored from a cluster 1,000,000 transactions ahead of this one.
	conn := admin(t, url)
	var next int64
	if err := conn.QueryRow(context.Background(), `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO events (domain, aggregate_id, sequence, type_url, payload, created_at, txid, ordinal)
		VALUES ('orders', $1, 0, 't', '', now(), $2, 0)`, uuid.New(), next+1_000_000); err != nil {
		t.Fatal(err)
	}
	refused, err := postgres.Open(t.Context(), url, postgres.WithLogger(testLogger(t)))
	if err == nil {
		refused.Close()
	}
	if !errors.Is(err, postgres.ErrTxidsBehind) || !strings.Contains(err.Error(), "restored into another cluster") {
		t.Fatalf("Open with positions ahead of the cluster: %v; want ErrTxidsBehind with the way forward", err)
	}
	t.Log(err)
}

// After a disk_full answer the store reports itself full, and its probe
// (an insert rolled back) finds room again by itself, leaving nothing.
func TestFullUntilTheProbeFindsRoom(t *testing.T) {
	url := freshSchema(t)
	s := open(t, url)
	if err := s.CheckSpace(t.Context()); err != nil {
		t.Fatalf("CheckSpace of a store that never failed: %v", err)
	}
	if err := postgres.FailWithDiskFull(s); !errors.Is(err, eventstore.ErrFull) {
		t.Fatalf("disk_full: %v; want ErrFull", err)
	}
	if err := s.CheckSpace(t.Context()); err != nil {
		t.Fatalf("CheckSpace with room on the disk: %v", err)
	}
	var n int
	if err := admin(t, url).QueryRow(context.Background(), `SELECT count(*) FROM snapshots`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the probe left %d snapshots (%v); want none", n, err)
	}
}
