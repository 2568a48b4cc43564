package sdk

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
)

// ProjectionKeyMetadata is the gRPC response header by which a projector's
// HandleSync names the key its projection is kept under for subscription
// queries, instead of the aggregate: set it with grpc.SetHeader.
const ProjectionKeyMetadata = "evented-projection-key"

// Watch names the projection a subscription query follows: a projector and
// either an aggregate (Cover) or a key the projector names. AfterVersion
// resumes after the last version received (0: start with the current
// projection).
type Watch struct {
	Projector    string
	Cover        *eventedpb.Cover
	Key          string
	AfterVersion uint64
}

// WatchProjection subscribes to w's projection on evented's query port
// (conn) and calls fn with the current projection, then with every
// change, in version order, until ctx ends (it returns ctx's error) or fn
// returns an error (which it returns). The projector must be synchronous
// or configured with publish_projections: true.
//
// When the stream breaks (evented restarted, a replica went away, or this
// client fell too far behind and was dropped), it subscribes again after
// the last version fn took, so fn sees each change once, in order, none
// missed. Errors that retrying cannot fix (an unknown projector, one that
// keeps no projections) are returned at once.
//
//	err := sdk.WatchProjection(ctx, conn, sdk.Watch{Projector: "balance", Cover: cover},
//		func(u *eventedpb.ProjectionUpdate) error {
//			fmt.Println(u.GetVersion(), u.GetProjection().GetProjection())
//			return nil
//		})
func WatchProjection(ctx context.Context, conn grpc.ClientConnInterface, w Watch, fn func(*eventedpb.ProjectionUpdate) error) error {
	client := eventedpb.NewProjectionQueryClient(conn)
	after := w.AfterVersion
	pause := retryMin
	for {
		err := watchOnce(ctx, client, w, &after, fn)
		var fnErr *callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case !resumable(err):
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, retryMax)
	}
}

// Pauses between resubscriptions.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func watchOnce(ctx context.Context, client eventedpb.ProjectionQueryClient, w Watch, after *uint64, fn func(*eventedpb.ProjectionUpdate) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Subscribe(ctx, &eventedpb.ProjectionSubscription{
		Projector: w.Projector, Cover: w.Cover, Key: w.Key, AfterVersion: *after,
	})
	if err != nil {
		return err
	}
	for {
		u, err := stream.Recv()
		if err != nil {
			return err
		}
		if u.GetVersion() <= *after {
			continue // already had it (resumed)
		}
		if err := fn(u); err != nil {
			return &callbackError{err}
		}
		*after = u.GetVersion()
	}
}

// resumable reports whether subscribing again may succeed: the server went
// away or dropped a client that fell behind.
func resumable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
