package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evented/evented/internal/eventstore"
)

// The server's answers for want of space or of other resources (SQLSTATE
// class 53) are told apart from bugs.
func TestInsufficientResourcesAreClassified(t *testing.T) {
	s := &Store{}
	for _, tc := range []struct {
		code string
		want error
	}{
		{"53100", eventstore.ErrFull},      // disk_full
		{"53200", eventstore.ErrExhausted}, // out_of_memory
		{"53300", eventstore.ErrExhausted}, // too_many_connections
		{"53400", eventstore.ErrExhausted}, // configuration_limit_exceeded
	} {
		err := s.writeFailed(&pgconn.PgError{Code: tc.code, Message: "x"}, "append to %s", "c")
		if !errors.Is(err, tc.want) || errors.Is(err, eventstore.ErrOutcomeUnknown) {
			t.Errorf("SQLSTATE %s: %v; want %v, not in doubt", tc.code, err, tc.want)
		}
	}
	if err := s.fail(&pgconn.PgError{Code: "42P01"}, "read"); errors.Is(err, eventstore.ErrFull) || errors.Is(err, eventstore.ErrExhausted) {
		t.Errorf("undefined_table: %v; want neither full nor exhausted", err)
	}
}
