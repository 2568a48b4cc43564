package wire

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
)

func TestStoredRoundTrip(t *testing.T) {
	in := eventstore.Book{
		Cover: eventstore.Cover{Domain: "customer", Root: uuid.New()},
		Events: []eventstore.Event{
			{Sequence: 0, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), TypeURL: "t/a", Payload: []byte{0, 1, 0xff}},
			{Sequence: 1, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 7, time.UTC), TypeURL: "t/b", Cause: eventstore.Cause{
				CorrelationID: "corr", CommandID: "cmd", Depth: 3,
				CausedBy: eventstore.EventRef{Cover: eventstore.Cover{Domain: "order", Root: uuid.New()}, Sequence: 9},
			}},
			{Sequence: 2, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 8, time.UTC), TypeURL: "t/c", Cause: eventstore.Cause{CorrelationID: "corr", CommandID: "cmd"}},
		},
		Snapshot: &eventstore.Snapshot{Sequence: 0, TypeURL: "t/s", State: []byte("s")},
	}
	data, err := MarshalStored(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalStored(data)
	if err != nil {
		t.Fatal(err)
	}
	if out.Cover != in.Cover || len(out.Events) != len(in.Events) || out.Snapshot == nil || string(out.Snapshot.State) != "s" {
		t.Fatalf("got %+v", out)
	}
	for i, e := range out.Events {
		w := in.Events[i]
		if e.Sequence != w.Sequence || !e.CreatedAt.Equal(w.CreatedAt) || e.TypeURL != w.TypeURL || string(e.Payload) != string(w.Payload) || e.Cause != w.Cause {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
}

func TestUnmarshalStoredRejects(t *testing.T) {
	cover := &eventedpb.Cover{Domain: "d", Root: &eventedpb.UUID{Value: make([]byte, 16)}}
	ev := &anypb.Any{TypeUrl: "t/a"}
	page := func(p *eventedpb.EventPage) []byte {
		b, _ := proto.Marshal(&eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{p}})
		return b
	}
	noCover, _ := proto.Marshal(&eventedpb.EventBook{})
	for name, data := range map[string][]byte{
		"not protobuf": []byte("not a book"),
		"no cover":     noCover,
		"no sequence":  page(&eventedpb.EventPage{Event: ev, CreatedAt: nil}),
		"forced":       page(&eventedpb.EventPage{Sequence: &eventedpb.EventPage_Force{Force: true}, Event: ev}),
		"no time":      page(&eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: ev}),
		"no event":     page(&eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: 0}, CreatedAt: timestamppb.Now()}),
	} {
		if _, err := UnmarshalStored(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzUnmarshalStored feeds arbitrary bodies, as anyone who can publish to the
// broker could: decode never panics, and what it accepts encodes back to
// a body that decodes to the same book.
func FuzzUnmarshalStored(f *testing.F) {
	seed, _ := MarshalStored(eventstore.Book{
		Cover:  eventstore.Cover{Domain: "customer", Root: uuid.New()},
		Events: []eventstore.Event{{Sequence: 2, CreatedAt: time.Now(), TypeURL: "t/a", Payload: []byte{1}}},
	})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte("not a book"))
	f.Fuzz(func(t *testing.T, data []byte) {
		book, err := UnmarshalStored(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		again, err := MarshalStored(book)
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalStored(again)
		if err != nil {
			t.Fatalf("re-encoded book rejected: %v", err)
		}
		if back.Cover != book.Cover || len(back.Events) != len(book.Events) {
			t.Fatalf("round trip changed the book: %+v -> %+v", book, back)
		}
		for i := range book.Events {
			if !back.Events[i].CreatedAt.Equal(book.Events[i].CreatedAt) || back.Events[i].Sequence != book.Events[i].Sequence ||
				string(back.Events[i].Payload) != string(book.Events[i].Payload) || back.Events[i].TypeURL != book.Events[i].TypeURL ||
				back.Events[i].Cause != book.Events[i].Cause {
				t.Fatalf("round trip changed event %d: %+v -> %+v", i, book.Events[i], back.Events[i])
			}
		}
	})
}
