package server

import (
	"fmt"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/grpcapi"
)

// WithProjectionOptions tunes subscription queries: the poll interval of
// other replicas' changes and how many updates may wait for a watcher
// before it is dropped (tests make it small).
func WithProjectionOptions(o delivery.ProjectionOptions) Option {
	return func(opts *options) { opts.projections = o }
}

// projectionQuery is the subscription queries' service over the
// configured projectors.
func (s *Server) projectionQuery() *grpcapi.ProjectionQuery {
	q := &grpcapi.ProjectionQuery{Projections: s.projections}
	for i, p := range s.cfg.Projectors {
		q.Projectors = append(q.Projectors, grpcapi.Projector{
			// A version of a projector keeps its projections under its
			// own name (receipt@v2), as its checkpoints.
			Name: delivery.VersionName(p.Name, p.Version), Key: fmt.Sprintf("projectors[%d]", i), Publishes: p.Synchronous || p.PublishProjections,
		})
	}
	return q
}
