package postgres

import "github.com/jackc/pgx/v5/pgconn"

// FailWithDiskFull passes a disk_full answer through the store's error
// path, as a write that hit it would.
func FailWithDiskFull(s *Store) error {
	return s.writeFailed(&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, "append")
}

// Queued is how many appends wait in the queue of s's writer.
func Queued(s *Store) int { return len(s.appends) }

// FastBatches is how many batches s stored from the heads its writer
// keeps, without reading them.
func FastBatches(s *Store) int64 { return s.fastBatches.Load() }

// StaleHeads is how many of those found a head kept behind the cover's and
// were run again, reading the heads.
func StaleHeads(s *Store) int64 { return s.staleHeads.Load() }
