package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/evented/evented/api/eventedpb"
)

// AdminAddr is the address of the admin HTTP port, or "" when it is off.
func (s *Server) AdminAddr() string {
	if s.adminLis == nil {
		return ""
	}
	return s.adminLis.Addr().String()
}

// adminHandler serves /metrics (Prometheus), /healthz (the process is up),
// /readyz (serving, and the store answers) and the console at /.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.console)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: shutting down, or the store does not answer or is full (see the log)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// storePing is how long the store may take to answer a health check, and
// storeCheckEvery how often it is asked.
const (
	storePing       = 2 * time.Second
	storeCheckEvery = 2 * time.Second
)

// watchStore asks the store regularly whether it answers and, when it can
// tell, whether it has room for writes (a full store is not ready until
// space is back), and reflects the answer in gRPC health and /readyz,
// until ctx ends.
func (s *Server) watchStore(ctx context.Context) {
	t := time.NewTicker(storeCheckEvery)
	defer t.Stop()
	healthy := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, storePing)
		_, err := s.store.Head(pctx)
		if err == nil && s.space != nil {
			err = s.space.CheckSpace(pctx)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if ok := err == nil; ok != healthy {
			healthy = ok
			if ok {
				s.log.Info("store answers again and has room; serving")
			} else {
				s.log.Error("store does not answer or is full; reporting not serving", "err", err)
			}
			s.setServing(ok)
		}
	}
}

// setServing sets gRPC health of every service, and readiness.
func (s *Server) setServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range []string{"",
		eventedpb.BusinessCoordinator_ServiceDesc.ServiceName, eventedpb.EventQuery_ServiceDesc.ServiceName,
		eventedpb.DeliveryAdmin_ServiceDesc.ServiceName, eventedpb.ProjectorCoordinator_ServiceDesc.ServiceName,
		eventedpb.SagaCoordinator_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(name, st)
	}
	s.ready.Store(ok)
}
