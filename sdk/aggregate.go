package sdk

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// Aggregate is the business logic of one domain: typed command handlers
// deciding on a state S rebuilt from the aggregate's snapshot and events.
// It implements evented.BusinessLogic; serve it with Serve.
//
// For each call evented sends the prior state (the latest snapshot and the
// events after it) and the commands. The aggregate starts from S's zero
// value, seeds it from the snapshot (Restore), applies the events (Apply),
// then runs each command's handler; the events a handler returns are
// applied before the next command and numbered from the aggregate's next
// sequence. With Snapshot registered, the state after the commands is
// returned as the snapshot.
//
// Register handlers before serving; an Aggregate is then safe for
// concurrent use (every call builds its own state).
type Aggregate[S any] struct {
	eventedpb.UnimplementedBusinessLogicServer
	domain   string
	opts     options
	fold     fold[S]
	handlers map[protoreflect.FullName]func(*S, *anypb.Any) ([]proto.Message, error)
	snapshot func(*S) proto.Message
}

// NewAggregate returns the aggregate of domain, with no handlers yet.
func NewAggregate[S any](domain string, opts ...Option) *Aggregate[S] {
	return &Aggregate[S]{
		domain:   domain,
		opts:     newOptions(opts),
		fold:     newFold[S](),
		handlers: map[protoreflect.FullName]func(*S, *anypb.Any) ([]proto.Message, error){},
	}
}

// Domain is the domain the aggregate handles.
func (a *Aggregate[S]) Domain() string { return a.domain }

// Now is the aggregate's clock (WithClock), for times stamped on events.
func (a *Aggregate[S]) Now() time.Time { return a.opts.now() }

func (a *Aggregate[S]) folds() *fold[S] { return &a.fold }

// Handle registers the handler of commands of type C. It decides from the
// state: it returns the events that happened (none is fine: nothing
// happened), or Reject / Invalid, or another error (INTERNAL). It must not
// change state: return events, and Apply changes it.
//
//	sdk.Handle(agg, func(s *State, c *examplespb.AddLoyaltyPoints) ([]proto.Message, error) {
//		if c.GetPoints() <= 0 {
//			return nil, sdk.Invalid("points must be positive")
//		}
//		return []proto.Message{&examplespb.LoyaltyPointsAdded{Points: c.GetPoints()}}, nil
//	})
//
// Handle panics when C already has a handler.
func Handle[S any, C proto.Message](a *Aggregate[S], handle func(state *S, cmd C) ([]proto.Message, error)) {
	name := nameOf[C]()
	if _, dup := a.handlers[name]; dup {
		panic(fmt.Sprintf("sdk: Handle for %s registered twice", name))
	}
	a.handlers[name] = func(s *S, raw *anypb.Any) ([]proto.Message, error) {
		c, err := unpack[C](raw)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decode command %s: %v", name, err)
		}
		return handle(s, c)
	}
}

// Snapshot makes the aggregate return a snapshot of its state after each
// command, made by save; evented stores it (its sequence set to the one
// after the new events) subject to the domain's snapshot policy, and sends
// it back as prior state. Register the matching Restore too. No snapshot
// is returned when the commands produced no event, or save returns nil.
func Snapshot[S any, T proto.Message](a *Aggregate[S], save func(state *S) T) {
	a.snapshot = func(s *S) proto.Message { return save(s) }
}

// Handle implements evented.BusinessLogic: it rebuilds the state from
// in.events, runs the commands of in.command, and returns the new events
// numbered from the aggregate's next sequence.
func (a *Aggregate[S]) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	cmd := in.GetCommand()
	cover, err := coverOf("command.cover", cmd.GetCover())
	if err != nil {
		return nil, err
	}
	if cover.Domain != a.domain {
		return nil, status.Errorf(codes.NotFound, "this service handles domain %q, not %q", a.domain, cover.Domain)
	}
	if len(cmd.GetPages()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "command.pages: must hold at least one command")
	}
	var state S
	prior := in.GetEvents()
	if err := a.fold.restoreFrom(&state, prior.GetSnapshot()); err != nil {
		return nil, a.wrap(err)
	}
	seqs := sequences(prior)
	for i, p := range prior.GetPages() {
		if err := a.fold.applyPage(&state, seqs[i], p); err != nil {
			return nil, a.wrap(err)
		}
	}
	seq := next(prior)
	out := &eventedpb.EventBook{Cover: cmd.GetCover()}
	for i, page := range cmd.GetPages() {
		name := page.GetCommand().MessageName()
		h, ok := a.handlers[name]
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "%s: command.pages[%d]: no handler for %q (handles %v)", a.domain, i, page.GetCommand().GetTypeUrl(), keys(a.handlers))
		}
		events, err := h(&state, page.GetCommand())
		if err != nil {
			return nil, toStatus(fmt.Sprintf("%s: %s", a.domain, name), err)
		}
		for j, e := range events {
			if e == nil {
				return nil, status.Errorf(codes.Internal, "%s: the handler of %s returned a nil event (#%d)", a.domain, name, j)
			}
			if d, ok := e.(*eventedpb.Deadline); ok {
				// sdk.At / After / Cancel: a deadline, for this aggregate
				// unless it names another, its id scoped to the aggregate.
				if d.GetCommand() != nil && d.GetCommand().GetCover() == nil {
					d.Command.Cover = cmd.GetCover()
				}
				d.Id = a.domain + "/" + cover.Root.String() + "/" + d.GetId() // named within the aggregate
				out.Deadlines = append(out.Deadlines, d)
				continue
			}
			ev, err := anypb.New(e)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "%s: encode %T: %v", a.domain, e, err)
			}
			page := &eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: seq}, Event: ev}
			if err := a.fold.applyPage(&state, seq, page); err != nil {
				return nil, a.wrap(err)
			}
			out.Pages = append(out.Pages, page)
			seq++
		}
	}
	if a.snapshot != nil && len(out.Pages) > 0 {
		snap := a.snapshot(&state)
		if snap == nil || !snap.ProtoReflect().IsValid() {
			return out, nil
		}
		st, err := anypb.New(snap)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "%s: encode snapshot %T: %v", a.domain, snap, err)
		}
		out.Snapshot = &eventedpb.Snapshot{Sequence: seq, State: st}
	}
	return out, nil
}

// Snapshot implements evented.BusinessLogic's Snapshot: the state after
// the events of book (its snapshot restored, its events applied), made by
// the function Snapshot registered; evented asks for it on its own when
// the domain has an automatic snapshot policy. Without one registered it
// answers UNIMPLEMENTED, and evented stops asking.
func (a *Aggregate[S]) Snapshot(_ context.Context, book *eventedpb.EventBook) (*eventedpb.Snapshot, error) {
	if a.snapshot == nil {
		return nil, status.Errorf(codes.Unimplemented, "%s: no snapshot function registered (sdk.Snapshot)", a.domain)
	}
	cover, err := coverOf("cover", book.GetCover())
	if err != nil {
		return nil, err
	}
	if cover.Domain != a.domain {
		return nil, status.Errorf(codes.NotFound, "this service handles domain %q, not %q", a.domain, cover.Domain)
	}
	var state S
	if err := a.fold.restoreFrom(&state, book.GetSnapshot()); err != nil {
		return nil, a.wrap(err)
	}
	seqs := sequences(book)
	for i, p := range book.GetPages() {
		if err := a.fold.applyPage(&state, seqs[i], p); err != nil {
			return nil, a.wrap(err)
		}
	}
	snap := a.snapshot(&state)
	if snap == nil || !snap.ProtoReflect().IsValid() {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: the snapshot function returned no state", a.domain)
	}
	st, err := anypb.New(snap)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s: encode snapshot %T: %v", a.domain, snap, err)
	}
	return &eventedpb.Snapshot{Sequence: next(book), State: st}, nil
}

func (a *Aggregate[S]) wrap(err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "%s: %s", a.domain, st.Message())
}
