package server

import (
	"fmt"

	"github.com/evented/evented/internal/grpcapi"
)

// projectionQuery is the subscription queries' service over the
// configured projectors.
func (s *Server) projectionQuery() *grpcapi.ProjectionQuery {
	q := &grpcapi.ProjectionQuery{Projections: s.projections}
	for i, p := range s.cfg.Projectors {
		q.Projectors = append(q.Projectors, grpcapi.Projector{
			Name: p.Name, Key: fmt.Sprintf("projectors[%d]", i), Publishes: p.Synchronous || p.PublishProjections,
		})
	}
	return q
}
