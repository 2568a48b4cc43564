package server

import (
	"context"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/eventstore"
)

// saveDeadlines stores the deadlines a saga returned (delivery.Options).
func (s *Server) saveDeadlines(ctx context.Context, ds []business.Deadline, cause eventstore.Cause) error {
	return deadline.Save(ctx, s.store, ds, cause, s.log)
}
