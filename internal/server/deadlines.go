package server

import (
	"context"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/eventstore"
)

// saveDeadlines stores the deadlines a saga returned (delivery.Options),
// counted by the domain of the event the saga answered.
func (s *Server) saveDeadlines(ctx context.Context, ds []business.Deadline, cause eventstore.Cause) error {
	if err := deadline.Save(ctx, s.store, ds, cause, s.log); err != nil {
		return err
	}
	if schedule, cancel, err := deadline.Plan(ds, cause); err == nil {
		s.metrics.DeadlinesPlanned(cause.CausedBy.Cover.Domain, len(schedule), len(cancel))
	}
	return nil
}
