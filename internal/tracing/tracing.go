// Package tracing sets up OpenTelemetry tracing of commands: the gRPC call
// into evented, the call to business logic, the store's reads and appends,
// and the calls to projectors and sagas, as one trace per command (inline
// deliveries share the command's trace; asynchronous ones start their own).
// It is off unless tracing.exporter names an exporter.
package tracing

import (
	"context"
	"fmt"
	"io"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Tracing is a tracer provider and what evented needs of it.
type Tracing struct {
	provider trace.TracerProvider
	shutdown func(context.Context) error
}

// New builds tracing from cfg: none (the default) traces nothing; stdout
// writes spans as JSON to w; otlp sends them over gRPC to cfg.Endpoint. A
// non-nil exporter replaces the configured one (tests).
func New(ctx context.Context, cfg config.Tracing, w io.Writer, exporter sdktrace.SpanExporter) (*Tracing, error) {
	if exporter == nil {
		var err error
		switch cfg.Exporter {
		case "", "none":
			return &Tracing{provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
		case "stdout":
			exporter, err = stdouttrace.New(stdouttrace.WithWriter(w))
		case "otlp":
			exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithInsecure())
		default:
			return nil, fmt.Errorf("tracing.exporter %q: want none, stdout or otlp", cfg.Exporter)
		}
		if err != nil {
			return nil, fmt.Errorf("tracing exporter %s: %w", cfg.Exporter, err)
		}
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("evented"))),
	)
	return &Tracing{provider: tp, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// ForceFlush exports the spans ended so far (tests).
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if tp, ok := t.provider.(*sdktrace.TracerProvider); ok {
		return tp.ForceFlush(ctx)
	}
	return nil
}

var propagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// off reports whether tracing is off: then nothing is hooked into gRPC or
// the store, so it costs nothing.
func (t *Tracing) off() bool {
	_, off := t.provider.(noop.TracerProvider)
	return off
}

// ServerOption traces the calls a gRPC server receives.
func (t *Tracing) ServerOption() grpc.ServerOption {
	if t.off() {
		return grpc.EmptyServerOption{}
	}
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(propagators)))
}

// DialOption traces the calls a gRPC client makes, and passes the trace on.
func (t *Tracing) DialOption() grpc.DialOption {
	if t.off() {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(propagators)))
}

// Storage wraps s so that appends, reads and snapshot calls are spans.
func (t *Tracing) Storage(s delivery.Storage) delivery.Storage {
	if t.off() {
		return s
	}
	return &tracedStorage{Storage: s, tracer: t.provider.Tracer("evented/eventstore")}
}

type tracedStorage struct {
	delivery.Storage
	tracer trace.Tracer
}

func (s *tracedStorage) span(ctx context.Context, name string, cover eventstore.Cover) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String("evented.domain", cover.Domain), attribute.String("evented.root", cover.Root.String())))
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (s *tracedStorage) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	ctx, span := s.span(ctx, "eventstore.Append", cover)
	span.SetAttributes(attribute.Int("evented.events", len(pages)))
	events, err := s.Storage.Append(ctx, cover, pages)
	end(span, err)
	return events, err
}

func (s *tracedStorage) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	ctx, span := s.span(ctx, "eventstore.Append", cover)
	span.SetAttributes(attribute.Int("evented.events", len(pages)), attribute.Bool("evented.idempotency_key", true))
	events, prior, err := s.Storage.AppendKeyed(ctx, cover, pages, key)
	end(span, err)
	return events, prior, err
}

func (s *tracedStorage) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	ctx, span := s.span(ctx, "eventstore.Read", cover)
	events, err := s.Storage.Read(ctx, cover, from, to)
	span.SetAttributes(attribute.Int("evented.events", len(events)))
	end(span, err)
	return events, err
}

func (s *tracedStorage) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	ctx, span := s.span(ctx, "eventstore.Snapshot", cover)
	snap, ok, err := s.Storage.Snapshot(ctx, cover)
	end(span, err)
	return snap, ok, err
}

func (s *tracedStorage) PutSnapshot(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot) error {
	ctx, span := s.span(ctx, "eventstore.PutSnapshot", cover)
	err := s.Storage.PutSnapshot(ctx, cover, snap)
	end(span, err)
	return err
}
