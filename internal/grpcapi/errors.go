package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// codeTable maps the core's errors to gRPC codes: the one place that does.
// The first entry an error matches (errors.Is) wins. The error's message
// goes to the client as it is, so every entry's errors must say what is
// wrong without leaking internals, unless the entry has a message of its
// own: then the client gets that, and the error is logged.
var codeTable = []struct {
	err     error
	code    codes.Code
	message string
}{
	{eventstore.ErrInvalid, codes.InvalidArgument, ""},
	{command.ErrUnknownDomain, codes.NotFound, ""},
	{delivery.ErrUnknownSubscriber, codes.NotFound, ""},
	{delivery.ErrNotStarted, codes.FailedPrecondition, ""},
	{eventstore.ErrKeyReused, codes.AlreadyExists, ""},
	{eventstore.ErrConflict, codes.Aborted, ""},
	{command.ErrCascade, codes.ResourceExhausted, ""},
	// Before the context's errors: an append in doubt because the
	// deadline passed while its answer was awaited is still in doubt.
	{eventstore.ErrOutcomeUnknown, codes.Unavailable, eventstore.ErrOutcomeUnknown.Error()},
	{eventstore.ErrUnavailable, codes.Unavailable, "the event store is unavailable; try again later"},
	{eventstore.ErrFull, codes.ResourceExhausted, "the event store is full (out of disk space, or at its size limit): nothing was stored; writes resume once space is freed"},
	{eventstore.ErrExhausted, codes.ResourceExhausted, "the event store ran out of resources (memory, connections): nothing was stored; try again later"},
	{eventstore.ErrDataLoss, codes.DataLoss, "the event store lost data it had acknowledged: nothing more is stored until an operator repairs it (the server log says what)"},
	{eventstore.ErrClosed, codes.Unavailable, ""},
	{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
	{context.Canceled, codes.Canceled, ""},
}

// toStatus turns an error from the core into the status the client gets.
// Errors that carry their own status (a business service's rejection) pass
// through. Business logic that broke the contract is INTERNAL and named.
// Anything else is a bug: INTERNAL, details logged, not leaked.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		// Already a status: gRPC's own, or a service evented calls
		// (business logic) passed through. When that service is down the
		// client is told here; the operator is told by the server's
		// outage tracker, once per outage (the business logic's client
		// reports to it), not once per command.
		if st.Code() == codes.Unavailable && log.Enabled(ctx, slog.LevelDebug) {
			log.DebugContext(ctx, "a service evented calls is unavailable; the command fails", "method", method, "err", st.Message())
		}
		return err
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if errors.As(err, &withStatus) {
		return withStatus.GRPCStatus().Err()
	}
	for _, e := range codeTable {
		if !errors.Is(err, e.err) {
			continue
		}
		if e.message != "" {
			log.WarnContext(ctx, e.message, "method", method, "err", err)
			return status.Error(e.code, e.message)
		}
		return status.Error(e.code, err.Error())
	}
	var misbehaviour *business.MisbehaviourError
	if errors.As(err, &misbehaviour) {
		log.ErrorContext(ctx, "business logic broke the contract", "method", method, "err", err)
		return status.Error(codes.Internal, misbehaviour.Error())
	}
	log.ErrorContext(ctx, "internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error in evented; the server log has the details")
}

type limiter struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

// allow reports whether key may be logged now.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) > 1000 {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
