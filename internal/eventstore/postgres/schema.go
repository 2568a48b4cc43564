package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// ordinalBits is how many low bits of a log position number the events
	// of one transaction; the writing transaction's id takes the rest.
	ordinalBits = 20
	// MaxEventsPerAppend is the most events one Append may store: the
	// ordinals of one transaction.
	MaxEventsPerAppend = 1 << ordinalBits
	// MaxTxid bounds the transaction ids whose events fit a position below
	// 2^63, which every bigint column (and a signed reader) can hold: about
	// 8.8 trillion transactions of the cluster, counted since initdb. An
	// append in a transaction beyond it fails (a CHECK constraint) rather
	// than wrap.
	MaxTxid = 1 << (63 - ordinalBits)
)

// migrations are the schema steps in order: migrations[i] takes the schema
// from version i to i+1 (the highest version in schema_migrations). Append
// new steps; never edit one that has been released.
//
// The tables are meant to be read with psql, like the SQLite backend's:
// events have readable columns (domain, aggregate_id as uuid, sequence,
// type_url, created_at as timestamptz) beside the payload.
var migrations = []string{
	// 1: events, snapshots, checkpoints and parked events.
	fmt.Sprintf(`CREATE TABLE events (
		-- Log position: (txid << %[1]d) | ordinal. Increasing in commit order
		-- only among transactions that have finished; see ReadLog.
		position     bigint      GENERATED ALWAYS AS ((txid << %[1]d) | ordinal) STORED,
		domain       text        COLLATE "C" NOT NULL,
		aggregate_id uuid        NOT NULL,
		sequence     bigint      NOT NULL CHECK (sequence BETWEEN 0 AND 4294967295),
		type_url     text        NOT NULL,
		payload      bytea       NOT NULL,
		created_at   timestamptz NOT NULL,
		-- The writing transaction (pg_current_xact_id, the 64-bit xid8
		-- including the epoch) and the event's place in it.
		txid         bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint CHECK (txid < %[2]d),
		ordinal      integer     NOT NULL CHECK (ordinal >= 0 AND ordinal < %[3]d),
		PRIMARY KEY (domain, aggregate_id, sequence)
	);
	CREATE UNIQUE INDEX events_position ON events (position);
	CREATE TABLE snapshots (
		domain       text        COLLATE "C" NOT NULL,
		aggregate_id uuid        NOT NULL,
		sequence     bigint      NOT NULL,
		type_url     text        NOT NULL,
		state        bytea       NOT NULL,
		created_at   timestamptz NOT NULL,
		PRIMARY KEY (domain, aggregate_id)
	);
	CREATE TABLE checkpoints (
		subscriber text        PRIMARY KEY,
		position   bigint      NOT NULL,
		updated_at timestamptz NOT NULL
	);
	CREATE TABLE parked (
		subscriber   text        NOT NULL,
		position     bigint      NOT NULL,
		domain       text        COLLATE "C" NOT NULL,
		aggregate_id uuid        NOT NULL,
		sequence     bigint      NOT NULL,
		type_url     text        NOT NULL,
		payload      bytea       NOT NULL,
		created_at   timestamptz NOT NULL,
		reason       text        NOT NULL,
		attempts     integer     NOT NULL,
		parked_at    timestamptz NOT NULL,
		PRIMARY KEY (subscriber, position)
	);`, ordinalBits, MaxTxid, MaxEventsPerAppend),

	// 2: segment leases (each row also the segment's checkpoint) and the
	// replicas taking part. "of" is quoted: it is an SQL keyword.
	`CREATE TABLE segments (
		subscriber text        COLLATE "C" NOT NULL,
		"of"       integer     NOT NULL CHECK ("of" >= 1),
		segment    integer     NOT NULL CHECK (segment >= 0 AND segment < "of"),
		owner      text        COLLATE "C" NOT NULL,
		token      bigint      NOT NULL,
		position   bigint      NOT NULL,
		expires_at timestamptz NOT NULL,
		PRIMARY KEY (subscriber, "of", segment)
	);
	CREATE TABLE members (
		id         text        COLLATE "C" PRIMARY KEY,
		expires_at timestamptz NOT NULL
	);`,

	// 3: idempotency keys, each stored with the events of its command:
	// the sequences [first_sequence, end_sequence) of the cover.
	`CREATE TABLE idempotency_keys (
		id             text        COLLATE "C" PRIMARY KEY,
		fingerprint    bytea       NOT NULL,
		domain         text        COLLATE "C" NOT NULL,
		aggregate_id   uuid        NOT NULL,
		first_sequence bigint      NOT NULL,
		end_sequence   bigint      NOT NULL,
		created_at     timestamptz NOT NULL,
		expires_at     timestamptz NOT NULL
	);
	CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);`,

	// 4: delivery marks: how far each aggregate's events reached a
	// subscriber, and the replica claiming to deliver the next ones. A mark
	// without a claim has claim_until NULL; a settled claim keeps its
	// claimer (for a retried settle).
	`CREATE TABLE marks (
		subscriber   text        COLLATE "C" NOT NULL,
		domain       text        COLLATE "C" NOT NULL,
		aggregate_id uuid        NOT NULL,
		next         bigint      NOT NULL,
		claimer      text        COLLATE "C" NOT NULL,
		claim_id     bigint      NOT NULL,
		claim_from   bigint      NOT NULL,
		claim_until  timestamptz,
		PRIMARY KEY (subscriber, domain, aggregate_id)
	);`,

	// 5: causation and correlation of each event (parked ones too). NULL
	// where the event records none: every row stored before this step.
	// Adding nullable columns without a default rewrites no rows.
	`ALTER TABLE events
		ADD COLUMN correlation_id text,
		ADD COLUMN command_id     text,
		ADD COLUMN cause_domain   text COLLATE "C",
		ADD COLUMN cause_root     uuid,
		ADD COLUMN cause_sequence bigint,
		ADD COLUMN depth          bigint;
	ALTER TABLE parked
		ADD COLUMN correlation_id text,
		ADD COLUMN command_id     text,
		ADD COLUMN cause_domain   text COLLATE "C",
		ADD COLUMN cause_root     uuid,
		ADD COLUMN cause_sequence bigint,
		ADD COLUMN depth          bigint;`,

	// 6: projections: the latest per (projector, key), and the changes
	// (every stored projection, numbered by version, the latest
	// eventstore.ChangeRetention kept) that other replicas follow. The
	// one row of projection_version is locked by every put, so versions
	// commit in order.
	`CREATE TABLE projections (
		projector    text   COLLATE "C" NOT NULL,
		key          text   COLLATE "C" NOT NULL,
		domain       text   COLLATE "C" NOT NULL,
		aggregate_id uuid   NOT NULL,
		sequence     bigint NOT NULL,
		type_url     text   NOT NULL,
		payload      bytea  NOT NULL,
		version      bigint NOT NULL,
		PRIMARY KEY (projector, key)
	);
	CREATE TABLE projection_changes (
		version      bigint PRIMARY KEY,
		projector    text   COLLATE "C" NOT NULL,
		key          text   COLLATE "C" NOT NULL,
		domain       text   COLLATE "C" NOT NULL,
		aggregate_id uuid   NOT NULL,
		sequence     bigint NOT NULL,
		type_url     text   NOT NULL,
		payload      bytea  NOT NULL
	);
	CREATE TABLE projection_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version bigint  NOT NULL
	);
	INSERT INTO projection_version (version) VALUES (0);`,
	// 7: the schema version of each event's payload (parked ones too), for
	// upcasting. NULL means 0 (version 1): every row stored before this step.
	`ALTER TABLE events ADD COLUMN schema_version bigint;
	ALTER TABLE parked ADD COLUMN schema_version bigint;`,
	// 8: deadlines: commands scheduled for later, fired by the replica
	// holding their slot's segment. due is Unix nanoseconds.
	`CREATE TABLE deadlines (
		id           text        PRIMARY KEY,
		slot         integer     NOT NULL,
		due          bigint      NOT NULL,
		domain       text        NOT NULL,
		aggregate_id uuid        NOT NULL,
		command      bytea       NOT NULL,
		key          text        NOT NULL,
		created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
	);
	CREATE INDEX deadlines_due ON deadlines (due);
	CREATE INDEX deadlines_domain ON deadlines (domain, due);`,
	// 9: snapshots keyed by their sequence too, so that an aggregate may
	// keep its newest few (snapshots.keep); the latest is the highest.
	`ALTER TABLE snapshots DROP CONSTRAINT snapshots_pkey;
	ALTER TABLE snapshots ADD PRIMARY KEY (domain, aggregate_id, sequence);`,
	// 10: one index of the deadlines instead of two, the one DueDeadlines
	// reads, in its order: a segment's due deadlines are found and ordered
	// from the index (no sort of those due at the same time, no heap row
	// read to learn a slot), and scheduling or firing a deadline updates
	// one index fewer. Listing a domain's deadlines reads them by due time.
	`DROP INDEX deadlines_domain;
	DROP INDEX deadlines_due;
	CREATE INDEX deadlines_due ON deadlines (due, slot, id);`,
}

// migrate brings the schema in the first existing schema of the search_path
// up to date and returns it and its version. All steps run in one
// transaction under an advisory lock keyed by the schema's name, so
// processes starting at once apply each step exactly once, and a failed
// step leaves nothing behind (PostgreSQL's DDL is transactional).
func migrate(ctx context.Context, pool *pgxpool.Pool) (schema string, version int, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return "", 0, err
	}
	defer tx.Rollback(ctx)
	var current *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
		return "", 0, err
	}
	if current == nil {
		var path string
		_ = tx.QueryRow(ctx, `SHOW search_path`).Scan(&path)
		return "", 0, fmt.Errorf("no schema to create the tables in: search_path %q names no existing schema (create it, or set search_path in the URL)", path)
	}
	schema = *current
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('evented.migrate.' || $1, 0))`, schema); err != nil {
		return "", 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return "", 0, err
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return "", 0, err
	}
	if version > len(migrations) {
		return "", version, fmt.Errorf("schema %q is at version %d, newer than this binary knows (%d): upgrade evented", schema, version, len(migrations))
	}
	for ; version < len(migrations); version++ {
		if _, err := tx.Exec(ctx, migrations[version]); err != nil {
			return "", version, fmt.Errorf("migrate schema %q to version %d: %w", schema, version+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version+1); err != nil {
			return "", version, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return "", version, err
	}
	return schema, version, nil
}
