package wire

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
)

// invalidNamesAField checks that err is an *eventstore.InvalidError whose
// field begins with one of prefixes and that says what is wrong.
func invalidNamesAField(t *testing.T, err error, prefixes ...string) {
	t.Helper()
	var inv *eventstore.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v (%T) is not an *eventstore.InvalidError", err, err)
	}
	if inv.Reason == "" {
		t.Fatalf("%v: no reason", err)
	}
	for _, p := range prefixes {
		if strings.HasPrefix(inv.Field, p) {
			return
		}
	}
	t.Fatalf("%v: field %q is none of %v", err, inv.Field, prefixes)
}

func seeds(f *testing.F, msgs ...proto.Message) {
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
}

// FuzzEventBook validates arbitrary EventBooks as every entry point reads
// them: Record (Cover, Pages), a business reply (Decision) and the
// coordinator fan-out (Book). A rejection names the field; an accepted
// book has a valid cover and typed events.
func FuzzEventBook(f *testing.F) {
	cover := &eventedpb.Cover{Domain: "customer", Root: root16()}
	seeds(f,
		&eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 4}, Event: &anypb.Any{TypeUrl: "t"}, CreatedAt: timestamppb.Now()}}},
		&eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Event: &anypb.Any{}}}},
		&eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "t"}, CreatedAt: &timestamppb.Timestamp{Seconds: -1 << 62}}}},
		&eventedpb.EventBook{Cover: cover, Snapshot: &eventedpb.Snapshot{Sequence: 1 << 31, State: &anypb.Any{TypeUrl: "s"}}},
		&eventedpb.EventBook{},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		var pb eventedpb.EventBook
		if proto.Unmarshal(data, &pb) != nil {
			return
		}
		if c, err := Cover(pb.GetCover(), "cover"); err != nil {
			invalidNamesAField(t, err, "cover")
		} else if c.Domain == "" {
			t.Fatalf("accepted a cover without a domain")
		}
		if pages, err := Pages(pb.GetPages(), "pages"); err != nil {
			invalidNamesAField(t, err, "pages[")
		} else {
			for i, p := range pages {
				if p.TypeURL == "" {
					t.Fatalf("accepted page %d without a type URL", i)
				}
			}
		}
		if _, err := Decision(&pb); err != nil {
			invalidNamesAField(t, err, "cover", "pages[", "deadlines[")
		}
		if book, err := Book(&pb); err != nil {
			invalidNamesAField(t, err, "cover", "pages[")
		} else if len(book.Events) != len(pb.GetPages()) {
			t.Fatalf("Book kept %d of %d pages", len(book.Events), len(pb.GetPages()))
		}
	})
}
