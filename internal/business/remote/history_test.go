package remote

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// events makes events [from, to) of an aggregate, as stored at base.
func events(from, to uint32, base time.Time) []eventstore.Event {
	var out []eventstore.Event
	for s := from; s < to; s++ {
		out = append(out, eventstore.Event{Sequence: s, CreatedAt: base.Add(time.Duration(s) * time.Millisecond),
			TypeURL: "type.googleapis.com/test.Happened", Payload: []byte(fmt.Sprintf("event %d", s)),
			Cause: eventstore.Cause{CommandID: fmt.Sprintf("cmd-%d", s), CorrelationID: "corr"}})
	}
	return out
}

func requestOf(cover eventstore.Cover, snap *eventstore.Snapshot, evs []eventstore.Event) business.Request {
	return business.Request{
		Prior:   eventstore.Book{Cover: cover, Snapshot: snap, Events: evs},
		Command: business.CommandBook{Cover: cover, Pages: []business.Command{{Sequence: uint32(len(evs)), TypeURL: "type.googleapis.com/test.Do", Payload: []byte("do")}}},
	}
}

// sent is what the codec puts on the wire for req.
func sent(t *testing.T, h *history, req business.Request) []byte {
	t.Helper()
	r, err := h.encode(req)
	if err != nil {
		t.Fatal(err)
	}
	bufs, err := newCodec().Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return bufs.Materialize()
}

// wantSame checks that the bytes decode to the request the plain encoding
// of req decodes to.
func wantSame(t *testing.T, what string, got []byte, req business.Request) {
	t.Helper()
	var dec eventedpb.ContextualCommand
	if err := proto.Unmarshal(got, &dec); err != nil {
		t.Fatalf("%s: the request does not decode: %v", what, err)
	}
	if want := wire.PBContextual(req); !proto.Equal(&dec, want) {
		t.Fatalf("%s: sent\n%v\nwant\n%v", what, &dec, want)
	}
}

// Every request the cache helps write is the request the plain encoding
// writes: as an aggregate grows, after a snapshot moves its first event,
// beside another aggregate, and when the events at the cached sequences
// are not the ones cached (another store, say).
func TestEncodedHistoryIsThePlainRequest(t *testing.T) {
	var h history
	a := eventstore.Cover{Domain: "order", Root: uuid.New()}
	b := eventstore.Cover{Domain: "order", Root: uuid.New()}
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		what  string
		cover eventstore.Cover
		snap  *eventstore.Snapshot
		evs   []eventstore.Event
	}{
		{"no events", a, nil, nil},
		{"first event", a, nil, events(0, 1, base)},
		{"two more", a, nil, events(0, 3, base)},
		{"same again", a, nil, events(0, 3, base)},
		{"another aggregate", b, nil, events(0, 5, base)},
		{"one more", a, nil, events(0, 4, base)},
		{"after a snapshot", a, &eventstore.Snapshot{Sequence: 2, TypeURL: "type.googleapis.com/test.State", State: []byte("s")}, events(2, 6, base)},
		{"growing after it", a, &eventstore.Snapshot{Sequence: 2, TypeURL: "type.googleapis.com/test.State", State: []byte("s")}, events(2, 8, base)},
		{"other events at the same sequences", a, &eventstore.Snapshot{Sequence: 2, TypeURL: "type.googleapis.com/test.State", State: []byte("s")}, events(2, 9, base.Add(time.Hour))},
		{"from the start again", a, nil, events(0, 9, base.Add(time.Hour))},
		{"fewer events than cached", a, nil, events(0, 2, base.Add(time.Hour))},
	}
	for _, s := range steps {
		req := requestOf(s.cover, s.snap, s.evs)
		wantSame(t, s.what, sent(t, &h, req), req)
	}
	if h.total <= 0 || len(h.entries) != 2 {
		t.Fatalf("cache holds %d aggregates, %d bytes; want both aggregates", len(h.entries), h.total)
	}
}

// Calls for one aggregate at once (the coordinator serialises them, other
// callers may not) each send their own request, whole: none sees bytes
// another appended.
func TestEncodedHistoryUnderConcurrentCalls(t *testing.T) {
	var h history
	c := eventstore.Cover{Domain: "order", Root: uuid.New()}
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	all := events(0, 120, base)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := 1; n <= len(all); n += 1 + g%3 {
				req := requestOf(c, nil, all[:n])
				r, err := h.encode(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				bufs, _ := newCodec().Marshal(r)
				want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(wire.PBContextual(req))
				var dec eventedpb.ContextualCommand
				if err := proto.Unmarshal(bufs.Materialize(), &dec); err != nil || !proto.Equal(&dec, wire.PBContextual(req)) {
					errs <- fmt.Sprintf("goroutine %d, %d events: sent a request that is not the plain one (%d bytes vs %d; %v)", g, n, bufs.Len(), len(want), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// An aggregate too long to keep is encoded in full each time, and not
// kept.
func TestLongHistoriesAreNotKept(t *testing.T) {
	var h history
	c := eventstore.Cover{Domain: "order", Root: uuid.New()}
	evs := events(0, 1, time.Now())
	evs[0].Payload = bytes.Repeat([]byte("x"), maxHistoryBytes+1)
	req := requestOf(c, nil, evs)
	wantSame(t, "long", sent(t, &h, req), req)
	if len(h.entries) != 0 || h.total != 0 {
		t.Fatalf("kept %d aggregates, %d bytes", len(h.entries), h.total)
	}
}
