package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrTxidsBehind is matched by the error of Open when the stored positions
// are ahead of the cluster's transaction ids (see checkTxids).
var ErrTxidsBehind = errors.New("the cluster's transaction ids are behind the stored positions")

// checkTxids refuses a schema whose stored positions come from transaction
// ids this cluster has not reached yet. Positions are transaction ids (see
// the package doc); a database restored into another cluster (pg_dump into
// a new server, a base backup into a fresh initdb) or a cluster whose
// counter was reset (pg_resetwal) hands out lower ids than those stored.
// New events would then get positions below ones that subscriptions have
// already passed, and never be delivered, silently. Starting is refused
// instead, with the numbers and the way forward.
func checkTxids(ctx context.Context, pool *pgxpool.Pool) error {
	var stored, next int64
	// The last event's position (one probe of the position index): the
	// checkpoints and leases hold positions read from events.
	err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(position), 0) >> $1 FROM events`, ordinalBits).Scan(&stored)
	if err == nil {
		err = pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&next)
	}
	if err != nil {
		return fmt.Errorf("check transaction ids: %w", err)
	}
	if stored < next {
		return nil
	}
	return fmt.Errorf("%w: positions stored here come from transaction id %d, but this cluster's next transaction id is %d "+
		"(was the database restored into another cluster?): new events would be placed behind events already delivered, and never delivered. "+
		"Advance the cluster's transaction ids past %d (%d transactions), then start again: see \"PostgreSQL restored into another cluster\" in docs/howto/storage.md",
		ErrTxidsBehind, stored, next, stored, stored-next+1)
}
