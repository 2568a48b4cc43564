package grpcapi

import (
	"context"
	"log/slog"
)

// Status maps err as the gRPC ports do (the table in errors.go), for
// callers of these services outside gRPC, such as the console: a status
// error whose message is safe to show, logged as the ports log it.
func Status(ctx context.Context, log *slog.Logger, method string, err error) error {
	return toStatus(ctx, log, method, err)
}
