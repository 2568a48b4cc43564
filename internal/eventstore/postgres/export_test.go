package postgres

import "github.com/jackc/pgx/v5/pgconn"

// FailWithDiskFull passes a disk_full answer through the store's error
// path, as a write that hit it would.
func FailWithDiskFull(s *Store) error {
	return s.writeFailed(&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, "append")
}

// Queued is how many appends wait in the queue of s's writer.
func Queued(s *Store) int { return len(s.appends) }
