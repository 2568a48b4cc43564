package sdk

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// Folder is what state can be rebuilt for: an Aggregate, a Projector or a
// Saga. Register how events change the state with Apply, and how a
// snapshot seeds it with Restore.
type Folder[S any] interface {
	folds() *fold[S]
}

// Apply registers how an event of type E changes state S. Every event of
// that type in the aggregate's history is applied in sequence order when
// the state is rebuilt, and an aggregate applies the events its handlers
// return, so the next command (and the snapshot) see them. Events of a type
// with no Apply leave the state as it is.
//
//	sdk.Apply(agg, func(s *State, e *examplespb.CustomerCreated) { s.Name = e.GetName() })
//
// Register before serving; Apply panics when E already has one.
func Apply[S any, E proto.Message](f Folder[S], apply func(state *S, event E)) {
	name := nameOf[E]()
	fo := f.folds()
	if _, dup := fo.apply[name]; dup {
		panic(fmt.Sprintf("sdk: Apply for %s registered twice", name))
	}
	fo.apply[name] = func(s *S, a *anypb.Any) error {
		e, err := unpack[E](a)
		if err != nil {
			return err
		}
		apply(s, e)
		return nil
	}
}

// Restore registers how a snapshot of type T seeds state S. For an
// aggregate T is its own snapshot (see Snapshot); a projector or saga
// with history receives the snapshot of the aggregate it follows. Once
// anything is registered with Apply or Restore, a snapshot of a type with
// no Restore is an error rather than a silently wrong state.
func Restore[S any, T proto.Message](f Folder[S], restore func(state *S, snapshot T)) {
	name := nameOf[T]()
	fo := f.folds()
	if _, dup := fo.restore[name]; dup {
		panic(fmt.Sprintf("sdk: Restore for %s registered twice", name))
	}
	fo.restore[name] = func(s *S, a *anypb.Any) error {
		t, err := unpack[T](a)
		if err != nil {
			return err
		}
		restore(s, t)
		return nil
	}
}

// fold holds how a state is rebuilt.
type fold[S any] struct {
	apply   map[protoreflect.FullName]func(*S, *anypb.Any) error
	restore map[protoreflect.FullName]func(*S, *anypb.Any) error
}

func newFold[S any]() fold[S] {
	return fold[S]{
		apply:   map[protoreflect.FullName]func(*S, *anypb.Any) error{},
		restore: map[protoreflect.FullName]func(*S, *anypb.Any) error{},
	}
}

// stateful reports whether any state is kept at all.
func (f *fold[S]) stateful() bool { return len(f.apply)+len(f.restore) > 0 }

func (f *fold[S]) restoreFrom(s *S, snap *eventedpb.Snapshot) error {
	if snap.GetState() == nil || !f.stateful() {
		return nil
	}
	name := snap.GetState().MessageName()
	r, ok := f.restore[name]
	if !ok {
		return status.Errorf(codes.FailedPrecondition, "received a snapshot of type %s and has no Restore for it (known: %v)", name, keys(f.restore))
	}
	if err := r(s, snap.GetState()); err != nil {
		return status.Errorf(codes.Internal, "decode snapshot %s: %v", name, err)
	}
	return nil
}

func (f *fold[S]) applyPage(s *S, seq uint32, p *eventedpb.EventPage) error {
	a, ok := f.apply[p.GetEvent().MessageName()]
	if !ok {
		return nil
	}
	if err := a(s, p.GetEvent()); err != nil {
		return status.Errorf(codes.Internal, "decode event %s at sequence %d: %v", p.GetEvent().MessageName(), seq, err)
	}
	return nil
}

// Cover is the address of one aggregate: its domain and root.
type Cover struct {
	Domain string
	Root   uuid.UUID
}

func (c Cover) String() string { return c.Domain + "/" + c.Root.String() }

func (c Cover) pb() *eventedpb.Cover {
	return &eventedpb.Cover{Domain: c.Domain, Root: &eventedpb.UUID{Value: c.Root[:]}}
}

// coverOf validates and converts a wire cover; field names the field for
// the error message.
func coverOf(field string, c *eventedpb.Cover) (Cover, error) {
	if c == nil {
		return Cover{}, status.Errorf(codes.InvalidArgument, "%s: missing", field)
	}
	if c.GetDomain() == "" {
		return Cover{}, status.Errorf(codes.InvalidArgument, "%s.domain: must not be empty", field)
	}
	root, err := uuid.FromBytes(c.GetRoot().GetValue())
	if err != nil {
		return Cover{}, status.Errorf(codes.InvalidArgument, "%s.root.value: must be exactly 16 bytes, got %d", field, len(c.GetRoot().GetValue()))
	}
	return Cover{Domain: c.GetDomain(), Root: root}, nil
}

// Event describes one delivered event: which aggregate, where in its
// history, and when it was stored (zero when the page does not say).
type Event struct {
	Cover     Cover
	Sequence  uint32
	CreatedAt time.Time
}

// sequences numbers a book's pages: a page's num when it has one, else the
// one after the previous page (the first after the snapshot's sequence).
func sequences(b *eventedpb.EventBook) []uint32 {
	n := b.GetSnapshot().GetSequence()
	out := make([]uint32, len(b.GetPages()))
	for i, p := range b.GetPages() {
		if num, ok := p.GetSequence().(*eventedpb.EventPage_Num); ok {
			n = num.Num
		}
		out[i] = n
		n++
	}
	return out
}

// next is the sequence after a book's last page (the snapshot's sequence
// for a book without pages).
func next(b *eventedpb.EventBook) uint32 {
	s := sequences(b)
	if len(s) == 0 {
		return b.GetSnapshot().GetSequence()
	}
	return s[len(s)-1] + 1
}

func nameOf[M proto.Message]() protoreflect.FullName {
	var zero M
	if any(zero) == nil {
		panic("sdk: the message type must be a concrete generated type such as *examplespb.CustomerCreated, not an interface")
	}
	return zero.ProtoReflect().Descriptor().FullName()
}

func newOf[M proto.Message]() M {
	var zero M
	return zero.ProtoReflect().Type().New().Interface().(M)
}

// unpack decodes a into a new M; the caller has checked the type name.
func unpack[M proto.Message](a *anypb.Any) (M, error) {
	m := newOf[M]()
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		var zero M
		return zero, err
	}
	return m, nil
}

func keys[V any](m map[protoreflect.FullName]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}
