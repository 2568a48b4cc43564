package sdk

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// Upcaster serves evented.Upcaster: typed steps that each turn one event
// type at schema version N into version N+1, possibly as another type.
// evented calls it for the steps configured under upcasters: (Steps lists
// them), chains steps and caches the results; stored events never change.
//
//	up := sdk.NewUpcaster("shop")
//	sdk.UpcastStep(up, 1, func(old *pb.CustomerCreatedV1) (*pb.CustomerCreated, error) {
//		first, last, _ := strings.Cut(old.GetName(), " ")
//		return &pb.CustomerCreated{FirstName: first, LastName: last}, nil
//	})
//	sdk.Serve(ctx, ":50060", up)
type Upcaster struct {
	eventedpb.UnimplementedUpcasterServer
	name  string
	steps map[upcastKey]upcastStep
	err   error // the first registration mistake, reported by Serve
}

type upcastKey struct {
	typeURL string
	version uint32
}

type upcastStep struct {
	to string
	fn func(payload []byte) (proto.Message, error)
}

// NewUpcaster returns an Upcaster without steps; name is for errors.
func NewUpcaster(name string) *Upcaster {
	return &Upcaster{name: name, steps: map[upcastKey]upcastStep{}}
}

// UpcastStep registers fn as the step of From's type from version
// fromVersion (1 or more) to fromVersion+1, as To's type. Two steps for one
// type and version are a mistake that Serve and Register report.
func UpcastStep[From, To proto.Message](u *Upcaster, fromVersion uint32, fn func(From) (To, error)) {
	var from From
	var to To
	key := upcastKey{typeURLOf(from.ProtoReflect().Descriptor()), fromVersion}
	if fromVersion < 1 {
		u.fail(fmt.Errorf("step from %s: from version %d: want 1 or more", key.typeURL, fromVersion))
		return
	}
	if _, dup := u.steps[key]; dup {
		u.fail(fmt.Errorf("two steps for %s v%d", key.typeURL, fromVersion))
		return
	}
	u.steps[key] = upcastStep{to: typeURLOf(to.ProtoReflect().Descriptor()), fn: func(payload []byte) (proto.Message, error) {
		old := from.ProtoReflect().New().Interface().(From)
		if err := proto.Unmarshal(payload, old); err != nil {
			return nil, fmt.Errorf("%s v%d: %w", key.typeURL, fromVersion, err)
		}
		return fn(old)
	}}
}

func (u *Upcaster) fail(err error) {
	if u.err == nil {
		u.err = fmt.Errorf("upcaster %s: %w", u.name, err)
	}
}

func typeURLOf(d protoreflect.MessageDescriptor) string {
	return "type.googleapis.com/" + string(d.FullName())
}

// UpcasterStep is one step as evented's configuration lists it
// (upcasters[].steps[]).
type UpcasterStep struct {
	Type        string `yaml:"type"`
	FromVersion uint32 `yaml:"from_version"`
	To          string `yaml:"to,omitempty"`
}

// Steps lists the registered steps, sorted: what to configure.
func (u *Upcaster) Steps() []UpcasterStep {
	out := make([]UpcasterStep, 0, len(u.steps))
	for k, s := range u.steps {
		st := UpcasterStep{Type: k.typeURL, FromVersion: k.version}
		if s.to != k.typeURL {
			st.To = s.to
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b UpcasterStep) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return int(a.FromVersion) - int(b.FromVersion)
	})
	return out
}

// Upcast implements evented.Upcaster: each event one version up. An event
// without a step, or a step that fails, fails the call (INTERNAL, naming
// the event).
func (u *Upcaster) Upcast(_ context.Context, req *eventedpb.UpcastRequest) (*eventedpb.UpcastResponse, error) {
	resp := &eventedpb.UpcastResponse{Events: make([]*eventedpb.UpcastEvent, len(req.GetEvents()))}
	for i, e := range req.GetEvents() {
		version := max(e.GetSchemaVersion(), 1)
		s, ok := u.steps[upcastKey{e.GetEvent().GetTypeUrl(), version}]
		if !ok {
			return nil, status.Errorf(codes.Internal, "upcaster %s: events[%d]: no step for %s v%d", u.name, i, e.GetEvent().GetTypeUrl(), version)
		}
		up, err := s.fn(e.GetEvent().GetValue())
		if err != nil {
			return nil, status.Errorf(codes.Internal, "upcaster %s: events[%d]: %v", u.name, i, err)
		}
		a, err := anypb.New(up)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "upcaster %s: events[%d]: %v", u.name, i, err)
		}
		resp.Events[i] = &eventedpb.UpcastEvent{Event: a, SchemaVersion: version + 1}
	}
	return resp, nil
}
