package wire

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
)

func root16() *eventedpb.UUID { return &eventedpb.UUID{Value: make([]byte, 16)} }

func TestCommandBookValidationNamesTheField(t *testing.T) {
	page := &eventedpb.CommandPage{Command: &anypb.Any{TypeUrl: "t/x.Create"}}
	for _, tc := range []struct {
		book  *eventedpb.CommandBook
		field string
	}{
		{&eventedpb.CommandBook{}, "cover: missing"},
		{&eventedpb.CommandBook{Cover: &eventedpb.Cover{Root: root16()}}, "cover.domain: must not be empty"},
		{&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d"}}, "cover.root: missing"},
		{&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d", Root: &eventedpb.UUID{Value: []byte{1, 2, 3}}}}, "cover.root.value: must be exactly 16 bytes, got 3"},
		{&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d", Root: root16()}}, "pages: must hold at least one"},
		{&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d", Root: root16()}, Pages: []*eventedpb.CommandPage{page, {}}}, "pages[1].command: missing"},
	} {
		_, err := CommandBook(tc.book)
		if !errors.Is(err, eventstore.ErrInvalid) || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("CommandBook(%v) = %v, want invalid %q", tc.book, err, tc.field)
		}
	}
	b, err := CommandBook(&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d", Root: root16()}, Pages: []*eventedpb.CommandPage{page}})
	if err != nil || b.Pages[0].TypeURL != "t/x.Create" {
		t.Fatalf("valid book: %+v, %v", b, err)
	}
}

func TestPagesKeepNumAndForce(t *testing.T) {
	pages, err := Pages([]*eventedpb.EventPage{
		{Sequence: &eventedpb.EventPage_Num{Num: 7}, Event: &anypb.Any{TypeUrl: "a"}},
		{Sequence: &eventedpb.EventPage_Force{Force: true}, Event: &anypb.Any{TypeUrl: "b"}},
		{Event: &anypb.Any{TypeUrl: "c"}},
	}, "pages")
	if err != nil {
		t.Fatal(err)
	}
	if !pages[0].HasNum || pages[0].Num != 7 || pages[1].HasNum || pages[2].HasNum {
		t.Fatalf("pages = %+v", pages)
	}
	if _, err := Pages([]*eventedpb.EventPage{{Event: &anypb.Any{}}}, "pages"); err == nil || !strings.HasPrefix(err.Error(), "pages[0].event.type_url") {
		t.Fatalf("empty type_url: %v", err)
	}
}

func TestDecisionEmptyBookIsNothing(t *testing.T) {
	d, err := Decision(&eventedpb.EventBook{})
	if err != nil || len(d.Events) != 0 {
		t.Fatalf("empty book: %+v, %v", d, err)
	}
	if _, err := Decision(&eventedpb.EventBook{Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "a"}}}}); err == nil {
		t.Fatal("pages without cover accepted")
	}
}

// FuzzCommandBook feeds arbitrary bytes through the request decoder: it must
// never panic, and whatever it accepts satisfies the validation rules.
func FuzzCommandBook(f *testing.F) {
	seed, _ := proto.Marshal(&eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: root16()},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer"}}},
	})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var in eventedpb.CommandBook
		if proto.Unmarshal(data, &in) != nil {
			return
		}
		b, err := CommandBook(&in)
		if err != nil {
			if !errors.Is(err, eventstore.ErrInvalid) {
				t.Fatalf("non-validation error %v", err)
			}
			return
		}
		if b.Cover.Domain == "" || len(b.Pages) == 0 || len(in.GetCover().GetRoot().GetValue()) != 16 {
			t.Fatalf("accepted an invalid book: %v", &in)
		}
		for _, p := range b.Pages {
			if p.TypeURL == "" {
				t.Fatal("accepted a page without a type")
			}
		}
	})
}

// TestMetadata checks the wire form of an event's cause: every field
// round-trips, an event without a cause has no metadata, metadata on the
// pages of a book to append is not taken, and a book read as stored
// events (a saga's input) keeps it.
func TestMetadata(t *testing.T) {
	cause := eventstore.Cause{
		CorrelationID: "corr", CommandID: "cmd", Depth: 2,
		CausedBy: eventstore.EventRef{Cover: eventstore.Cover{Domain: "order", Root: [16]byte{1}}, Sequence: 4},
	}
	for _, c := range []eventstore.Cause{cause, {CorrelationID: "corr", CommandID: "cmd"}} {
		if got := Metadata(PBMetadata(c, 0)); got != c {
			t.Errorf("Metadata(PBMetadata(%+v)) = %+v", c, got)
		}
	}
	if m := PBMetadata(eventstore.Cause{}, 0); m != nil {
		t.Errorf("PBMetadata of no cause = %v; want nil", m)
	}
	if got := Metadata(&eventedpb.EventMetadata{CorrelationId: "c", CausedBy: &eventedpb.Cover{Domain: "d"}}); got != (eventstore.Cause{CorrelationID: "c"}) {
		t.Errorf("metadata with an invalid caused_by = %+v; want it dropped", got)
	}
	pb := &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "d", Root: root16()},
		Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "t/x"}, Metadata: PBMetadata(cause, 0)}},
	}
	pages, err := Pages(pb.GetPages(), "pages")
	if err != nil || !pages[0].Cause.IsZero() {
		t.Errorf("Pages took the metadata: %+v, %v", pages, err)
	}
	book, err := Book(pb)
	if err != nil || book.Events[0].Cause != cause {
		t.Errorf("Book = %+v, %v; want the event's cause kept", book, err)
	}
	if got := PBBook(book).GetPages()[0].GetMetadata(); !proto.Equal(got, PBMetadata(cause, 0)) {
		t.Errorf("PBBook metadata = %v", got)
	}
}
