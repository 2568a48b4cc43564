package grpcapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Read-your-writes metadata on Handle and Record.
const (
	// WaitForMetadata names subscribers (projectors, sagas, bus),
	// comma-separated or repeated, that must have handled the command's
	// events before evented answers.
	WaitForMetadata = "evented-wait-for"
	// WaitTimeoutMetadata bounds that wait (a Go duration such as 2s; at
	// most maxWait). Without it the wait lasts until shortly before the
	// call's deadline, or defaultWait.
	WaitTimeoutMetadata = "evented-wait-timeout"
	// PositionMetadata, set to "true", asks for the reply's position
	// without waiting (a command that waits gets it anyway). It costs a
	// read of the log's head, so it is not given unasked.
	PositionMetadata = "evented-want-position"
	// WaitExpiredTrailer lists, "name: reached R of P" each, subscribers
	// that had not handled the events when the wait ended. The command is
	// committed all the same.
	WaitExpiredTrailer = "evented-wait-expired"
)

const (
	defaultWait = 10 * time.Second
	maxWait     = 5 * time.Minute
)

// Waits serves read-your-writes: waits for subscribers to reach a log
// position.
type Waits struct {
	Hub *delivery.Hub
	Log eventstore.Log
}

// waitRequest is a validated wait: whom, and until when.
type waitRequest struct {
	subs    []*delivery.Subscription
	timeout time.Duration
}

// fromMetadata reads a command's wait, before the command runs: an unknown
// subscriber or a bad timeout fails the request with nothing done.
func (w *Waits) fromMetadata(ctx context.Context) (*waitRequest, error) {
	var names []string
	for _, v := range metadata.ValueFromIncomingContext(ctx, WaitForMetadata) { // no copy of the whole metadata
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	var timeout time.Duration
	if v := metadata.ValueFromIncomingContext(ctx, WaitTimeoutMetadata); len(v) > 0 {
		d, err := time.ParseDuration(v[len(v)-1])
		if err != nil || d <= 0 || d > maxWait {
			return nil, eventstore.Invalid(WaitTimeoutMetadata, "%q: want a duration such as 2s or 500ms, above 0 and at most %v", v[len(v)-1], maxWait)
		}
		if len(names) == 0 {
			return nil, eventstore.Invalid(WaitTimeoutMetadata, "given without %s: name the projectors to wait for", WaitForMetadata)
		}
		timeout = d
	}
	if len(names) == 0 {
		if slices.Contains(metadata.ValueFromIncomingContext(ctx, PositionMetadata), "true") {
			return &waitRequest{}, nil // the position only
		}
		return nil, nil
	}
	subs, err := w.subscriptions(names, WaitForMetadata)
	if err != nil {
		return nil, err
	}
	return &waitRequest{subs: subs, timeout: timeout}, nil
}

func (w *Waits) subscriptions(names []string, field string) ([]*delivery.Subscription, error) {
	if w == nil || w.Hub == nil {
		return nil, eventstore.Invalid(field, "this server delivers to no subscribers")
	}
	var subs []*delivery.Subscription
	for _, n := range names {
		sub := w.Hub.Subscription(n)
		if sub == nil {
			var known []string
			for _, s := range w.Hub.Subscriptions() {
				known = append(known, s.Name())
			}
			return nil, eventstore.Invalid(field, "unknown subscriber %q; configured: %s", n, strings.Join(known, ", "))
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// wait waits for each of r's subscribers to reach position (of cover's
// segment when cover is set) and reports each.
func (r *waitRequest) wait(ctx context.Context, position uint64, cover *eventstore.Cover) []*eventedpb.SubscriberWait {
	timeout := r.timeout
	if timeout == 0 {
		timeout = defaultWait
		if dl, ok := ctx.Deadline(); ok {
			// Answer before the client gives up, so it learns how far
			// the subscribers got.
			timeout = time.Until(dl) * 9 / 10
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	out := make([]*eventedpb.SubscriberWait, 0, len(r.subs))
	for _, sub := range r.subs {
		reached, err := sub.WaitFor(ctx, position, cover)
		out = append(out, &eventedpb.SubscriberWait{Subscriber: sub.Name(), Position: position, Reached: reached, Done: err == nil})
	}
	return out
}

// reportExpired sets the trailer naming the waits that were not done.
func reportExpired(ctx context.Context, waits []*eventedpb.SubscriberWait) {
	md := metadata.MD{}
	for _, w := range waits {
		if !w.GetDone() {
			md.Append(WaitExpiredTrailer, fmt.Sprintf("%s: reached %d of %d", w.GetSubscriber(), w.GetReached(), w.GetPosition()))
		}
	}
	if len(md) > 0 {
		_ = grpc.SetTrailer(ctx, md)
	}
}

// after completes a command's response, when the command asked to wait or
// for the position: the log position at or after its events, and the waits.
func (w *Waits) after(ctx context.Context, r *waitRequest, cover *eventstore.Cover, resp *eventedpb.SynchronousProcessingResponse) error {
	if w == nil || w.Log == nil || r == nil {
		return nil // neither a wait nor the position was asked for
	}
	head, err := w.Log.Head(ctx)
	if err != nil {
		// The command is done: say so, with the waits not done.
		for _, sub := range r.subs {
			resp.Waits = append(resp.Waits, &eventedpb.SubscriberWait{Subscriber: sub.Name()})
		}
		reportExpired(ctx, resp.Waits)
		return nil
	}
	resp.Position = head
	if len(r.subs) > 0 {
		resp.Waits = r.wait(ctx, head, cover)
		reportExpired(ctx, resp.Waits)
	}
	return nil
}

// WaitFor implements EventQuery.WaitFor.
func (w *Waits) waitFor(ctx context.Context, in *eventedpb.WaitRequest) (*eventedpb.WaitResponse, error) {
	if len(in.GetSubscribers()) == 0 {
		return nil, eventstore.Invalid("subscribers", "name at least one projector, saga or bus")
	}
	subs, err := w.subscriptions(in.GetSubscribers(), "subscribers")
	if err != nil {
		return nil, err
	}
	r := &waitRequest{subs: subs}
	if t := in.GetTimeout(); t != nil {
		if err := t.CheckValid(); err != nil || t.AsDuration() <= 0 || t.AsDuration() > maxWait {
			return nil, eventstore.Invalid("timeout", "%v: want above 0 and at most %v", t.AsDuration(), maxWait)
		}
		r.timeout = t.AsDuration()
	}
	return &eventedpb.WaitResponse{Waits: r.wait(ctx, in.GetPosition(), nil)}, nil
}
