package server

import (
	"context"
	"math"

	"google.golang.org/grpc"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/grpcapi"
)

// WithClientKey names the caller that limits.rate_per_client counts for
// (default grpcapi.CallerKey: the authenticated caller when auth is on,
// else the peer's IP address).
func WithClientKey(key func(ctx context.Context) string) Option {
	return func(o *options) { o.clientKey = key }
}

// limitOptions are the server options that enforce cfg's limits on both
// gRPC ports: message sizes, streams per connection, then the limits
// interceptors, shared by both ports so that a client's rate counts its
// calls to either.
func limitOptions(cfg config.Config, clientKey func(context.Context) string) []grpc.ServerOption {
	l := cfg.Limits
	edge := grpcapi.Limits{
		MaxPages:         l.MaxPages,
		MaxEventBytes:    l.MaxEventBytes,
		MaxDomain:        l.MaxDomainLength,
		MaxResponseBytes: l.MaxResponseBytes,
		MaxConcurrent:    cfg.Command.MaxConcurrent,
		QueueWait:        cfg.Command.QueueWait,
		Rate:             l.RatePerClient,
		Burst:            l.RateBurst,
		ClientKey:        clientKey,
	}
	// A zero limit (a Config built in code without Default) is gRPC's
	// default.
	var opts []grpc.ServerOption
	if l.MaxRequestBytes > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(l.MaxRequestBytes))
	}
	if l.MaxResponseBytes > 0 {
		opts = append(opts, grpc.MaxSendMsgSize(l.MaxResponseBytes))
	}
	if l.MaxStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(min(l.MaxStreams, math.MaxUint32))))
	}
	return append(opts, edge.Interceptors()...)
}

// callOptions bound the messages exchanged with business logic, projectors
// and sagas (limits.max_call_bytes).
func callOptions(l config.Limits) grpc.DialOption {
	if l.MaxCallBytes <= 0 {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(l.MaxCallBytes), grpc.MaxCallSendMsgSize(l.MaxCallBytes))
}

// configuredDomains are the domains named in cfg: they have a metrics
// label of their own.
func configuredDomains(cfg config.Config) []string {
	var out []string
	for _, b := range cfg.BusinessLogic {
		out = append(out, b.Domain)
	}
	for _, cs := range [][]config.Consumer{cfg.Projectors, cfg.Sagas} {
		for _, c := range cs {
			out = append(out, c.Domains...)
		}
	}
	return out
}

// cacheBytes is command.cache_bytes as command.Options takes it: 0 keeps
// none there.
func cacheBytes(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// bookBytes bounds the payloads of one book GetEvents streams: 1 MiB, or
// less when responses are bounded lower, leaving room for the rest.
func bookBytes(l config.Limits) int {
	if l.MaxResponseBytes <= 0 {
		return 1 << 20
	}
	return min(1<<20, l.MaxResponseBytes/2)
}
