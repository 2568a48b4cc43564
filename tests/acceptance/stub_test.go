package acceptance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

// interference says when the stub's "other writer" records an event for the
// aggregate it is deciding on, so that evented's append conflicts.
type interference int

const (
	noInterference interference = iota
	interfereOnce
	interfereAlways
)

// answer is what the stub decides for one command type.
type answer struct {
	events   []string // event type names, one page each
	snapshot bool     // also return a snapshot of the state
	reject   string   // when set, reject with FAILED_PRECONDITION and this message
	// schedule, when set, is a command scheduled for the same aggregate
	// after delay, under the aggregate's one deadline id; cancel cancels it.
	schedule string
	delay    time.Duration
	cancel   bool
}

// deadlineID is the stub's one deadline per aggregate.
func deadlineID(cover *eventedpb.Cover) string {
	return fmt.Sprintf("timeout/%s/%x", cover.GetDomain(), cover.GetRoot().GetValue())
}

// stubLogic is a real evented.BusinessLogic gRPC service on 127.0.0.1:0. It
// records every request it receives and answers as the scenario told it.
type stubLogic struct {
	eventedpb.UnimplementedBusinessLogicServer

	addr string
	srv  *grpc.Server
	done chan error

	mu         sync.Mutex
	calls      []*eventedpb.ContextualCommand
	answers    map[string]answer // by command type name
	stampZero  bool              // stamp sequence 0 on every event, as evented-rs examples do
	interfere  interference
	intruder   string // event type the other writer records
	interfered int
	// record is how the other writer reaches evented; set once evented runs.
	record func(context.Context, *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error)
	// snapshots: the stub answers Snapshot (else UNIMPLEMENTED);
	// snapshotAsked counts the questions.
	snapshots     bool
	snapshotAsked int
	// problems are failures of the stub itself; any fails the scenario.
	problems []error
}

func startStubLogic() (*stubLogic, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stub business logic: %w", err)
	}
	s := &stubLogic{addr: lis.Addr().String(), srv: grpc.NewServer(), done: make(chan error, 1), answers: map[string]answer{}}
	eventedpb.RegisterBusinessLogicServer(s.srv, s)
	go func() { s.done <- s.srv.Serve(lis) }()
	return s, nil
}

// stop stops the service and reports what went wrong in it.
func (s *stubLogic) stop() error {
	s.srv.Stop()
	err := <-s.done
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(append(s.problems, err)...)
}

func (s *stubLogic) setAnswer(command string, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[command] = a
}

func (s *stubLogic) setInterference(event string, i interference) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intruder, s.interfere, s.interfered = event, i, 0
}

func (s *stubLogic) setStampZero() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stampZero = true
}

func (s *stubLogic) setRecorder(r func(context.Context, *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record = r
}

// received returns copies of the requests received so far, in order.
func (s *stubLogic) received() []*eventedpb.ContextualCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*eventedpb.ContextualCommand(nil), s.calls...)
}

func (s *stubLogic) problem(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, err)
	return status.Error(codes.Internal, "stub business logic: "+err.Error())
}

// Handle implements evented.BusinessLogic.
func (s *stubLogic) Handle(ctx context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	s.mu.Lock()
	s.calls = append(s.calls, proto.CloneOf(in))
	interfere := s.interfere == interfereAlways || (s.interfere == interfereOnce && s.interfered == 0)
	if interfere {
		s.interfered++
	}
	intruder, record, stampZero := s.intruder, s.record, s.stampZero
	answers := make([]answer, len(in.GetCommand().GetPages()))
	for i, p := range in.GetCommand().GetPages() {
		a, ok := s.answers[typeName(p.GetCommand().GetTypeUrl())]
		if !ok {
			a = answer{events: []string{typeName(p.GetCommand().GetTypeUrl()) + "Handled"}}
		}
		answers[i] = a
	}
	s.mu.Unlock()

	cover := in.GetCommand().GetCover()
	if interfere {
		if record == nil {
			return nil, s.problem(errors.New("told to interfere before evented runs"))
		}
		// The other writer is careful: it records at the sequence it knows to
		// be next, which is the one this decision is based on.
		other := &eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{
			Sequence: &eventedpb.EventPage_Num{Num: nextSequence(in.GetEvents())},
			Event:    &anypb.Any{TypeUrl: typeURL(intruder)},
		}}}
		if _, err := record(ctx, other); err != nil {
			return nil, s.problem(fmt.Errorf("the other writer could not record: %w", err))
		}
	}

	out := &eventedpb.EventBook{Cover: cover}
	for i, a := range answers {
		if a.reject != "" {
			return nil, status.Error(codes.FailedPrecondition, a.reject)
		}
		for _, e := range a.events {
			page := &eventedpb.EventPage{Event: &anypb.Any{TypeUrl: typeURL(e), Value: in.GetCommand().GetPages()[i].GetCommand().GetValue()}}
			if stampZero {
				page.Sequence = &eventedpb.EventPage_Num{Num: 0}
			}
			out.Pages = append(out.Pages, page)
		}
		if a.schedule != "" {
			out.Deadlines = append(out.Deadlines, &eventedpb.Deadline{Id: deadlineID(cover), Due: timestamppb.New(time.Now().Add(a.delay)),
				Command: &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: typeURL(a.schedule)}}}}})
		}
		if a.cancel {
			out.Deadlines = append(out.Deadlines, &eventedpb.Deadline{Id: deadlineID(cover), Cancel: true})
		}
		if a.snapshot {
			out.Snapshot = &eventedpb.Snapshot{State: &anypb.Any{
				TypeUrl: typeURL(snapshotType),
				Value:   fmt.Appendf(nil, "state after %d prior events and %d new", len(in.GetEvents().GetPages()), len(out.Pages)),
			}}
		}
	}
	return out, nil
}

// snapshotType is the type name of the state the stub snapshots.
const snapshotType = "AggregateState"

// nextSequence is the sequence the next event of book's aggregate gets: one
// past its last event, else its snapshot's sequence, else 0.
func nextSequence(book *eventedpb.EventBook) uint32 {
	if n := len(book.GetPages()); n > 0 {
		return book.GetPages()[n-1].GetNum() + 1
	}
	return book.GetSnapshot().GetSequence()
}
