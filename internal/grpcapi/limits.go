package grpcapi

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/eventstore"
)

// Limits bound what one request may ask of the server, at the edge, before
// any of it reaches the core. Each refusal names the field and the limit's
// configuration key. A zero field is no bound.
type Limits struct {
	// MaxPages bounds the pages of a command or event book
	// (limits.max_pages).
	MaxPages int
	// MaxEventBytes bounds one event's or command's payload
	// (limits.max_event_bytes).
	MaxEventBytes int
	// MaxDomain bounds a domain's length (limits.max_domain_length); the
	// characters are always checked (eventstore.DomainProblem).
	MaxDomain int
	// MaxResponseBytes bounds one message sent (limits.max_response_bytes).
	MaxResponseBytes int
	// MaxConcurrent bounds the Handle and Record calls served at once
	// (command.max_concurrent); one more waits up to QueueWait
	// (command.queue_wait) for a slot, then is refused.
	MaxConcurrent int
	QueueWait     time.Duration
	// Rate is the calls per second one client may make (0: no limit),
	// Burst how many it may make at once (limits.rate_per_client,
	// limits.rate_burst).
	Rate  float64
	Burst int
	// ClientKey names the caller a rate is kept for; nil means CallerKey.
	ClientKey func(ctx context.Context) string
}

// CallerKey is the authenticated caller's name when authentication is on
// (the guard runs before the limits), else PeerKey.
func CallerKey(ctx context.Context) string {
	if id := auth.FromContext(ctx); id != nil {
		return id.String()
	}
	return PeerKey(ctx)
}

// PeerKey is the caller's IP address (without the port), or "unknown".
func PeerKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

// Interceptors return the interceptors that enforce l, outermost first:
// the rate per client, the bound on concurrent commands, then the checks
// of each request and response.
func (l Limits) Interceptors() []grpc.ServerOption {
	rl := newRates(l.Rate, l.Burst, l.ClientKey)
	var g *gate
	if l.MaxConcurrent > 0 {
		g = &gate{slots: make(chan struct{}, l.MaxConcurrent), wait: l.QueueWait}
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := rl.allow(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			if g != nil && isCommand(info.FullMethod) {
				if err := g.enter(ctx); err != nil {
					return nil, err
				}
				defer g.leave()
			}
			if err := l.check(req); err != nil {
				return nil, err
			}
			resp, err := h(ctx, req)
			if err == nil {
				err = l.checkResponse(resp, info.FullMethod)
			}
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := rl.allow(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, &limitedStream{ServerStream: ss, l: l, method: info.FullMethod})
		}),
	}
}

func isCommand(method string) bool {
	return method == eventedpb.BusinessCoordinator_Handle_FullMethodName ||
		method == eventedpb.BusinessCoordinator_Record_FullMethodName
}

// limitedStream checks every message a stream receives and sends.
type limitedStream struct {
	grpc.ServerStream
	l      Limits
	method string
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.l.check(m)
}

func (s *limitedStream) SendMsg(m any) error {
	if err := s.l.checkResponse(m, s.method); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

// check refuses a request that is over a limit, naming the field.
func (l Limits) check(req any) error {
	var err error
	switch r := req.(type) {
	case *eventedpb.CommandBook:
		err = l.commandBook(r)
	case *eventedpb.EventBook:
		err = l.eventBook(r)
	case *eventedpb.Query:
		err = l.domain("domain", r.GetDomain())
	case *eventedpb.ParkedQuery:
		for i, c := range r.GetCovers() {
			if c != nil {
				if err = l.domain(fmt.Sprintf("covers[%d].domain", i), c.GetDomain()); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

func (l Limits) domain(field, d string) error {
	max := l.MaxDomain
	if max <= 0 {
		max = eventstore.MaxDomainLimit
	}
	return eventstore.CheckDomain(field, d, max)
}

func (l Limits) pages(n int) error {
	if l.MaxPages > 0 && n > l.MaxPages {
		return eventstore.Invalid("pages", "holds %d pages: want at most %d (limits.max_pages); split it into several requests", n, l.MaxPages)
	}
	return nil
}

func (l Limits) payload(field string, n int) error {
	if l.MaxEventBytes > 0 && n > l.MaxEventBytes {
		return eventstore.Invalid(field, "is %d bytes: want at most %d (limits.max_event_bytes)", n, l.MaxEventBytes)
	}
	return nil
}

func (l Limits) commandBook(b *eventedpb.CommandBook) error {
	if c := b.GetCover(); c != nil {
		if err := l.domain("cover.domain", c.GetDomain()); err != nil {
			return err
		}
	}
	if err := l.pages(len(b.GetPages())); err != nil {
		return err
	}
	for i, p := range b.GetPages() {
		if err := l.payload(fmt.Sprintf("pages[%d].command.value", i), len(p.GetCommand().GetValue())); err != nil {
			return err
		}
	}
	return nil
}

func (l Limits) eventBook(b *eventedpb.EventBook) error {
	if c := b.GetCover(); c != nil {
		if err := l.domain("cover.domain", c.GetDomain()); err != nil {
			return err
		}
	}
	if err := l.pages(len(b.GetPages())); err != nil {
		return err
	}
	for i, p := range b.GetPages() {
		if err := l.payload(fmt.Sprintf("pages[%d].event.value", i), len(p.GetEvent().GetValue())); err != nil {
			return err
		}
	}
	return nil
}

// checkResponse refuses to send a message over MaxResponseBytes, saying
// what the client can do instead. gRPC would refuse it too, with a message
// that names neither the limit nor the way out.
func (l Limits) checkResponse(resp any, method string) error {
	m, ok := resp.(proto.Message)
	if !ok || l.MaxResponseBytes <= 0 {
		return nil
	}
	n := proto.Size(m)
	if n <= l.MaxResponseBytes {
		return nil
	}
	hint := "raise limits.max_response_bytes (and the client's receive limit)"
	if isCommand(method) {
		hint = "the events are stored: read them with EventQuery.GetEvents, or " + hint
	}
	return status.Errorf(codes.ResourceExhausted, "the reply is %d bytes, over limits.max_response_bytes (%d): %s", n, l.MaxResponseBytes, hint)
}

// gate bounds the commands served at once.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func (g *gate) enter(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.wait > 0 {
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return status.Errorf(codes.ResourceExhausted,
		"the server is busy: %d commands are in progress (command.max_concurrent) and none finished within %s (command.queue_wait); retry with backoff",
		cap(g.slots), g.wait)
}

func (g *gate) leave() { <-g.slots }

// rates keeps one token bucket per client.
type rates struct {
	limit rate.Limit
	burst int
	key   func(context.Context) string
	mu    sync.Mutex
	m     map[string]*clientRate
}

type clientRate struct {
	lim  *rate.Limiter
	last time.Time
}

// maxIdleClients is how many clients rates remembers before it forgets
// those whose bucket has refilled (forgetting them changes nothing).
const maxIdleClients = 10000

func newRates(perSecond float64, burst int, key func(context.Context) string) *rates {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if key == nil {
		key = CallerKey
	}
	return &rates{limit: rate.Limit(perSecond), burst: burst, key: key, m: map[string]*clientRate{}}
}

// allow takes one token of the caller's bucket. Health checks are free, so
// that a busy client's probes do not fail.
func (r *rates) allow(ctx context.Context, method string) error {
	if r == nil || strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return nil
	}
	client := r.key(ctx)
	now := time.Now()
	r.mu.Lock()
	c, ok := r.m[client]
	if !ok {
		if len(r.m) >= maxIdleClients {
			r.forget(now)
		}
		c = &clientRate{lim: rate.NewLimiter(r.limit, r.burst)}
		r.m[client] = c
	}
	c.last = now
	ok = c.lim.AllowN(now, 1)
	r.mu.Unlock()
	if !ok {
		return status.Errorf(codes.ResourceExhausted,
			"client %q is over limits.rate_per_client (%g calls per second, bursts of %d, limits.rate_burst); slow down and retry",
			client, float64(r.limit), r.burst)
	}
	return nil
}

// forget drops the clients idle long enough for their bucket to be full.
func (r *rates) forget(now time.Time) {
	full := time.Duration(float64(r.burst) / float64(r.limit) * float64(time.Second))
	for k, c := range r.m {
		if now.Sub(c.last) > full {
			delete(r.m, k)
		}
	}
}
