package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

type withStatus struct{ st *status.Status }

func (e withStatus) Error() string              { return e.st.Message() }
func (e withStatus) GRPCStatus() *status.Status { return e.st }

func TestErrorTable(t *testing.T) {
	conflict := &eventstore.ConflictError{Expected: 3, Actual: 4}
	for _, tc := range []struct {
		err     error
		code    codes.Code
		message string
	}{
		{eventstore.Invalid("cover.root.value", "must be exactly 16 bytes, got 3"), codes.InvalidArgument, "cover.root.value: must be exactly 16 bytes, got 3"},
		{fmt.Errorf("wrapped: %w", &command.UnknownDomainError{Domain: "x", Known: []string{"a", "b"}}), codes.NotFound, `unknown domain "x"; configured domains: [a b]`},
		{&command.AbortedError{Attempts: 5, Last: conflict}, codes.Aborted, "sequence conflict: expected 3, got 4"},
		{conflict, codes.Aborted, "expected 3, got 4"},
		{eventstore.ErrClosed, codes.Unavailable, "closed"},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline"},
		{withStatus{status.New(codes.FailedPrecondition, "Insufficient points: have 5, need 10")}, codes.FailedPrecondition, "Insufficient points: have 5, need 10"},
		{fmt.Errorf("wrapped: %w", withStatus{status.New(codes.Unavailable, "down")}), codes.Unavailable, "down"},
		{&business.MisbehaviourError{Service: "svc at x:1", Reason: "returned events for another cover"}, codes.Internal, "svc at x:1 returned events"},
		{status.Error(codes.ResourceExhausted, "too big"), codes.ResourceExhausted, "too big"},
		{fmt.Errorf("handle: %w", &eventstore.KeyMismatchError{Key: "pay-7"}), codes.AlreadyExists, `idempotency-key "pay-7" was used for a different command`},
		{fmt.Errorf("append: %w", &eventstore.InDoubtError{Op: "postgres: append to x", Err: errors.New("read tcp 10.0.0.1:5432: connection reset")}),
			codes.Unavailable, "the outcome is unknown; retry with the same idempotency-key"},
		{&eventstore.InDoubtError{Op: "redis: append", Err: context.DeadlineExceeded}, codes.Unavailable, "the outcome is unknown; retry with the same idempotency-key"},
		{fmt.Errorf("postgres: read: %w", eventstore.Unavailable(errors.New("dial tcp 10.0.0.1:5432: connection refused"))), codes.Unavailable, "the event store is unavailable; try again later"},
		{fmt.Errorf("sqlite: append to x: %w", eventstore.Full(errors.New("database or disk is full (13)"))), codes.ResourceExhausted, "the event store is full"},
		{fmt.Errorf("postgres: append: %w: ERROR: out of memory (SQLSTATE 53200)", eventstore.ErrExhausted), codes.ResourceExhausted, "ran out of resources"},
		{fmt.Errorf("redis: append: %w: the position counter is behind the log", eventstore.ErrDataLoss), codes.DataLoss, "lost data"},
		// In doubt wins: a commit that failed for want of space may or may not have been written.
		{&eventstore.InDoubtError{Op: "append", Err: eventstore.Full(errors.New("disk full"))}, codes.Unavailable, "the outcome is unknown"},
		{fmt.Errorf("command: %w", command.ErrCascade), codes.ResourceExhausted, "cascade"},
		{fmt.Errorf("replay: %w", delivery.ErrUnknownSubscriber), codes.NotFound, "unknown subscriber"},
		{fmt.Errorf("handle: %w", context.Canceled), codes.Canceled, "canceled"},
	} {
		st := status.Convert(toStatus(t.Context(), slog.New(slog.DiscardHandler), "/m", tc.err))
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
			t.Errorf("%v → %s %q, want %s containing %q", tc.err, st.Code(), st.Message(), tc.code, tc.message)
		}
	}
}

// Errors whose entry has a message of its own leak nothing either.
func TestStoreErrorsAreNotLeaked(t *testing.T) {
	var logged bytes.Buffer
	for _, err := range []error{
		&eventstore.InDoubtError{Op: "append", Err: errors.New("read tcp 10.1.2.3:5432: reset")},
		eventstore.Unavailable(errors.New("dial tcp 10.1.2.3:5432: connection refused")),
	} {
		st := status.Convert(toStatus(t.Context(), slog.New(slog.NewTextHandler(&logged, nil)), "/m", err))
		if st.Code() != codes.Unavailable || strings.Contains(st.Message(), "10.1.2.3") {
			t.Errorf("%v → %s %q; want UNAVAILABLE without the address", err, st.Code(), st.Message())
		}
	}
	if strings.Count(logged.String(), "10.1.2.3") != 2 {
		t.Errorf("details not logged: %q", logged.String())
	}
}

func TestUnknownErrorsAreInternalAndNotLeaked(t *testing.T) {
	var logged bytes.Buffer
	err := toStatus(t.Context(), slog.New(slog.NewTextHandler(&logged, nil)), "/m", errors.New("disk I/O error at /secret/path"))
	st := status.Convert(err)
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") {
		t.Fatalf("got %s %q, want INTERNAL without details", st.Code(), st.Message())
	}
	if !strings.Contains(logged.String(), "/secret/path") {
		t.Errorf("details not logged: %q", logged.String())
	}
	if toStatus(t.Context(), slog.New(slog.DiscardHandler), "/m", nil) != nil {
		t.Error("nil error must stay nil")
	}
}

// A dependency that is down (business logic answering UNAVAILABLE) is
// passed to the client; the edge does not warn about it (the server's
// outage tracker does, once per outage: see the server's
// TestOneWarningWhenBusinessLogicIsDown), it only logs each at DEBUG. A
// business rejection is not logged.
func TestUnavailableDependencyIsPassedThrough(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	down := withStatus{status.New(codes.Unavailable, `business logic of domain "billing" at 127.0.0.1:1: connection refused`)}
	for range 3 {
		if st := status.Convert(toStatus(t.Context(), log, "/m", fmt.Errorf("handle: %w", down))); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "billing") {
			t.Fatalf("got %s %q; want the dependency's UNAVAILABLE passed through", st.Code(), st.Message())
		}
	}
	if n := strings.Count(logged.String(), "level=DEBUG"); n != 3 || strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("want 3 DEBUG lines and no WARN:\n%s", logged.String())
	}
	logged.Reset()
	toStatus(t.Context(), log, "/m", withStatus{status.New(codes.FailedPrecondition, "customer already exists")})
	if logged.Len() != 0 {
		t.Errorf("a business rejection was logged: %s", logged.String())
	}
}
