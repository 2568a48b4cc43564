package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema steps in order: migrations[i] takes the schema
// from version i (PRAGMA user_version) to i+1. Append new steps; never edit
// one that has been released.
//
// The tables are meant to be read with the sqlite3 shell: UUIDs as lowercase
// text and times as RFC 3339 text in UTC with nine fractional digits, so that
// text order is time order.
var migrations = []string{
	// 1: events and snapshots.
	`CREATE TABLE events (
		-- Global commit order, gap-free: rows are only ever appended by one
		-- writer at a time, and a rolled-back insert frees its position.
		position     INTEGER PRIMARY KEY,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		payload      BLOB    NOT NULL,
		created_at   TEXT    NOT NULL,
		UNIQUE (domain, aggregate_id, sequence)
	);
	CREATE TABLE snapshots (
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		state        BLOB    NOT NULL,
		created_at   TEXT    NOT NULL,
		PRIMARY KEY (domain, aggregate_id)
	) WITHOUT ROWID;`,

	// 2: subscriptions: checkpoints and parked (dead-lettered) events.
	`CREATE TABLE checkpoints (
		subscriber TEXT    PRIMARY KEY,
		position   INTEGER NOT NULL,
		updated_at TEXT    NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE parked (
		subscriber   TEXT    NOT NULL,
		position     INTEGER NOT NULL,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		payload      BLOB    NOT NULL,
		created_at   TEXT    NOT NULL,
		reason       TEXT    NOT NULL,
		attempts     INTEGER NOT NULL,
		parked_at    TEXT    NOT NULL,
		PRIMARY KEY (subscriber, position)
	) WITHOUT ROWID;`,

	// 3: segment leases (each row also the segment's checkpoint) and the
	// replicas taking part. "of" is quoted: it is an SQL keyword.
	`CREATE TABLE segments (
		subscriber TEXT    NOT NULL,
		"of"       INTEGER NOT NULL,
		segment    INTEGER NOT NULL,
		owner      TEXT    NOT NULL,
		token      INTEGER NOT NULL,
		position   INTEGER NOT NULL,
		expires_at TEXT    NOT NULL,
		PRIMARY KEY (subscriber, "of", segment)
	) WITHOUT ROWID;
	CREATE TABLE members (
		id         TEXT PRIMARY KEY,
		expires_at TEXT NOT NULL
	) WITHOUT ROWID;`,

	// 4: delivery marks: how far each aggregate's events reached a
	// subscriber, and the replica claiming to deliver the next ones. A mark
	// never claimed has claimer ''; a settled claim keeps its claimer (for
	// a retried settle) with claim_until ''.
	`CREATE TABLE marks (
		subscriber   TEXT    NOT NULL,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		next         INTEGER NOT NULL,
		claimer      TEXT    NOT NULL,
		claim_id     INTEGER NOT NULL,
		claim_from   INTEGER NOT NULL,
		claim_until  TEXT    NOT NULL,
		PRIMARY KEY (subscriber, domain, aggregate_id)
	) WITHOUT ROWID;`,

	// 5: idempotency keys, each stored with the events of its command:
	// the sequences [first_sequence, end_sequence) of the cover.
	`CREATE TABLE idempotency_keys (
		id             TEXT    PRIMARY KEY,
		fingerprint    BLOB    NOT NULL,
		domain         TEXT    NOT NULL,
		aggregate_id   TEXT    NOT NULL,
		first_sequence INTEGER NOT NULL,
		end_sequence   INTEGER NOT NULL,
		created_at     TEXT    NOT NULL,
		expires_at     TEXT    NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);`,

	// 6: causation and correlation of each event (parked ones too). NULL
	// where the event records none: every row stored before this step.
	`ALTER TABLE events ADD COLUMN correlation_id TEXT;
	ALTER TABLE events ADD COLUMN command_id     TEXT;
	ALTER TABLE events ADD COLUMN cause_domain   TEXT;
	ALTER TABLE events ADD COLUMN cause_root     TEXT;
	ALTER TABLE events ADD COLUMN cause_sequence INTEGER;
	ALTER TABLE events ADD COLUMN depth          INTEGER;
	ALTER TABLE parked ADD COLUMN correlation_id TEXT;
	ALTER TABLE parked ADD COLUMN command_id     TEXT;
	ALTER TABLE parked ADD COLUMN cause_domain   TEXT;
	ALTER TABLE parked ADD COLUMN cause_root     TEXT;
	ALTER TABLE parked ADD COLUMN cause_sequence INTEGER;
	ALTER TABLE parked ADD COLUMN depth          INTEGER;`,

	// 7: projections: the latest per (projector, key), and the changes
	// (every stored projection, numbered by version, the latest
	// eventstore.ChangeRetention kept) that other replicas follow.
	`CREATE TABLE projections (
		projector    TEXT    NOT NULL,
		key          TEXT    NOT NULL,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		payload      BLOB    NOT NULL,
		version      INTEGER NOT NULL,
		PRIMARY KEY (projector, key)
	) WITHOUT ROWID;
	CREATE TABLE projection_changes (
		version      INTEGER PRIMARY KEY,
		projector    TEXT    NOT NULL,
		key          TEXT    NOT NULL,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		payload      BLOB    NOT NULL
	);`,
	// 8: the schema version of each event's payload (parked ones too), for
	// upcasting. NULL means 0 (version 1): every row stored before this step.
	`ALTER TABLE events ADD COLUMN schema_version INTEGER;
	ALTER TABLE parked ADD COLUMN schema_version INTEGER;`,
	// 9: deadlines: commands scheduled for later, fired by the replica
	// holding their slot's segment. due is Unix nanoseconds.
	`CREATE TABLE deadlines (
		id           TEXT    NOT NULL PRIMARY KEY,
		slot         INTEGER NOT NULL,
		due          INTEGER NOT NULL,
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		command      BLOB    NOT NULL,
		key          TEXT    NOT NULL,
		created_at   TEXT    NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX deadlines_due ON deadlines (due);
	CREATE INDEX deadlines_domain ON deadlines (domain, due);`,
	// 10: snapshots keyed by their sequence too, so that an aggregate may
	// keep its newest few (snapshots.keep); the latest is the highest.
	`CREATE TABLE snapshots_10 (
		domain       TEXT    NOT NULL,
		aggregate_id TEXT    NOT NULL,
		sequence     INTEGER NOT NULL,
		type_url     TEXT    NOT NULL,
		state        BLOB    NOT NULL,
		created_at   TEXT    NOT NULL,
		PRIMARY KEY (domain, aggregate_id, sequence)
	) WITHOUT ROWID;
	INSERT INTO snapshots_10 SELECT domain, aggregate_id, sequence, type_url, state, created_at FROM snapshots;
	DROP TABLE snapshots;
	ALTER TABLE snapshots_10 RENAME TO snapshots;`,
	// 11: one index of the deadlines instead of two, the one DueDeadlines
	// reads: the slot beside the due time, so that a segment's due
	// deadlines are found without reading the other segments' rows, and
	// every deadline scheduled or fired updates one index fewer. Listing a
	// domain's deadlines reads them by due time.
	`DROP INDEX deadlines_domain;
	DROP INDEX deadlines_due;
	CREATE INDEX deadlines_due ON deadlines (due, slot);`,
}

// migrate brings the schema of db up to date, one step per transaction, and
// returns its version. Each step re-reads the version under the write lock
// (db begins IMMEDIATE), so processes opening the same file at once apply
// every step exactly once.
func migrate(ctx context.Context, db *sql.DB) (int, error) {
	for {
		done, version, err := migrateStep(ctx, db)
		if err != nil || done {
			return version, err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB) (done bool, version int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, 0, err
	}
	switch {
	case version > len(migrations):
		return false, version, fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade evented", version, len(migrations))
	case version == len(migrations):
		return true, version, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, version, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	// PRAGMA takes no parameters; version is an int we produced.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, version, err
	}
	return false, version + 1, tx.Commit()
}
