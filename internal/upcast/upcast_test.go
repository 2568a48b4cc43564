package upcast_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/upcast"
)

const (
	created   = "type.googleapis.com/shop.CustomerCreated"
	createdV3 = "type.googleapis.com/shop.CustomerRegistered"
)

// chain registers CustomerCreated v1→v2 (payload "name" → "name|"), and
// v2→v3 under a new type (payload → "name|email"), counting calls.
func chain(calls *atomic.Int64) *upcast.Registry {
	r := upcast.NewRegistry()
	r.RegisterFunc("customer", created, 1, "", "v1to2", func(_ context.Context, e upcast.Event) (upcast.Event, error) {
		calls.Add(1)
		return upcast.Event{TypeURL: created, Version: 2, Payload: append(bytes.Clone(e.Payload), '|')}, nil
	})
	r.RegisterFunc("customer", created, 2, createdV3, "v2to3", func(_ context.Context, e upcast.Event) (upcast.Event, error) {
		calls.Add(1)
		return upcast.Event{TypeURL: createdV3, Version: 3, Payload: append(bytes.Clone(e.Payload), "unknown@example.com"...)}, nil
	})
	return r
}

func TestChainAppliedOnReadLogAndAppend(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	reg := chain(&calls)
	if err := reg.Check(); err != nil {
		t.Fatal(err)
	}
	raw := memory.New()
	st := upcast.Storage(raw, reg, upcast.Options{})
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	other := eventstore.Cover{Domain: "other", Root: uuid.New()}
	if _, err := raw.Append(ctx, cover, []eventstore.Page{
		{TypeURL: created, Payload: []byte("ann")},                        // v1 (0)
		{TypeURL: created, Payload: []byte("bob|"), SchemaVersion: 2},     // v2
		{TypeURL: createdV3, Payload: []byte("cy|c@x"), SchemaVersion: 3}, // current
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Append(ctx, other, []eventstore.Page{{TypeURL: created, Payload: []byte("dan")}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ann|unknown@example.com", "bob|unknown@example.com", "cy|c@x"}
	check := func(where string, events []eventstore.Event) {
		t.Helper()
		if len(events) != 3 {
			t.Fatalf("%s: %d events", where, len(events))
		}
		for i, e := range events {
			if e.TypeURL != createdV3 || e.SchemaVersion != 3 || string(e.Payload) != want[i] {
				t.Errorf("%s: event %d = %s v%d %q; want %s v3 %q", where, i, e.TypeURL, e.SchemaVersion, e.Payload, createdV3, want[i])
			}
		}
	}
	got, err := st.Read(ctx, cover, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	check("Read", got)
	if n := calls.Load(); n != 3 {
		t.Errorf("upcaster calls = %d; want 3 (v1: two steps, v2: one)", n)
	}

	logged, err := st.ReadLog(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var fromLog []eventstore.Event
	for _, l := range logged {
		if l.Cover == cover {
			fromLog = append(fromLog, l.Event)
		} else if l.TypeURL != created || string(l.Payload) != "dan" {
			t.Errorf("event of domain other upcast by customer's chain: %+v", l.Event)
		}
	}
	check("ReadLog", fromLog)
	if n := calls.Load(); n != 3 {
		t.Errorf("upcaster calls after ReadLog = %d; want still 3 (cached)", n)
	}

	// What is stored is never rewritten.
	stored, err := raw.Read(ctx, cover, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if stored[0].TypeURL != created || string(stored[0].Payload) != "ann" || stored[0].SchemaVersion != 0 {
		t.Errorf("stored event changed: %+v", stored[0])
	}

	// An append of an old version comes back upcast too.
	appended, err := st.Append(ctx, cover, []eventstore.Page{{TypeURL: created, Payload: []byte("eve")}})
	if err != nil {
		t.Fatal(err)
	}
	if appended[0].TypeURL != createdV3 || string(appended[0].Payload) != "eve|unknown@example.com" {
		t.Errorf("Append returned %+v", appended[0])
	}
}

func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	raw := memory.New()
	st := upcast.Storage(raw, chain(&calls), upcast.Options{CacheBytes: 1000}).(*upcast.Store)
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	pages := make([]eventstore.Page, 100)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: created, Payload: fmt.Appendf(nil, "c%d", i)}
	}
	if _, err := raw.Append(ctx, cover, pages); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := st.Read(ctx, cover, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, b := st.CacheLen(); b > 1000 || n == 0 {
		t.Errorf("cache holds %d events, %d bytes; want some, at most 1000 bytes", n, b)
	}
	if s := st.Stats(); s.Upcast+s.CacheHits != 300 || s.Upcast < 250 {
		t.Errorf("stats %+v: want 300 events served, most upcast again (the cache holds a few)", s)
	}
}

func TestCheck(t *testing.T) {
	noop := upcast.Func(func(_ context.Context, e upcast.Event) (upcast.Event, error) { return e, nil })
	for _, tc := range []struct {
		name  string
		steps []upcast.Step
		want  []string
	}{
		{"chain", []upcast.Step{{Domain: "d", From: "A", Version: 1, Name: "a1"}, {Domain: "d", From: "A", Version: 2, To: "B", Name: "a2"}, {Domain: "d", From: "B", Version: 3, Name: "b3"}}, nil},
		{"every domain feeds one", []upcast.Step{{From: "A", Version: 1, Name: "a1"}, {Domain: "d", From: "A", Version: 2, Name: "a2"}}, nil},
		{"gap", []upcast.Step{{Domain: "d", From: "A", Version: 1, Name: "a1"}, {Domain: "d", From: "A", Version: 3, Name: "a3"}},
			[]string{"gap before d: A v3→A v4 (a3)", "a step from v2 is missing"}},
		{"gap after rename", []upcast.Step{{Domain: "d", From: "A", Version: 1, To: "B", Name: "a1"}, {Domain: "d", From: "A", Version: 2, Name: "a2"}},
			[]string{"gap before d: A v2→A v3 (a2)"}},
		{"twice", []upcast.Step{{Domain: "d", From: "A", Version: 1, Name: "go"}, {Domain: "d", From: "A", Version: 1, Name: "127.0.0.1:9"}},
			[]string{"two upcasters for one step: d: A v1→A v2 (go) and d: A v1→A v2 (127.0.0.1:9)"}},
		{"no type", []upcast.Step{{Domain: "d", Version: 1, Name: "x"}}, []string{"the type to upcast from is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upcast.NewRegistry()
			for _, s := range tc.steps {
				r.Register(s, noop)
			}
			err := r.Check()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, upcast.ErrChain) {
				t.Fatalf("Check = %v; want ErrChain", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %q; want it to say %q", err, w)
				}
			}
		})
	}
}

func TestWrongResultRefused(t *testing.T) {
	r := upcast.NewRegistry()
	r.RegisterFunc("d", "A", 1, "", "skips", func(_ context.Context, e upcast.Event) (upcast.Event, error) {
		return upcast.Event{TypeURL: "A", Version: 3, Payload: e.Payload}, nil
	})
	_, err := r.Apply(context.Background(), "d", []upcast.Event{{TypeURL: "A", Payload: []byte("x")}})
	if !errors.Is(err, upcast.ErrUpcast) || !strings.Contains(err.Error(), "returned A v3; want A v2") {
		t.Fatalf("Apply = %v", err)
	}
}

// TestAppendNeverFailsAfterStoring: an upcaster that fails does not turn a
// committed append into an error (the caller would think nothing was
// stored); a read fails instead, and is tried again.
func TestAppendNeverFailsAfterStoring(t *testing.T) {
	ctx := context.Background()
	r := upcast.NewRegistry()
	r.RegisterFunc("customer", created, 1, "", "down", func(context.Context, upcast.Event) (upcast.Event, error) {
		return upcast.Event{}, errors.New("unreachable")
	})
	st := upcast.Storage(memory.New(), r, upcast.Options{}).(*upcast.Store)
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	events, err := st.Append(ctx, cover, []eventstore.Page{{TypeURL: created, Payload: []byte("ann")}})
	if err != nil || len(events) != 1 || events[0].TypeURL != created {
		t.Fatalf("Append = %+v, %v; want the event as stored", events, err)
	}
	if st.Stats().AppendFailures != 1 {
		t.Errorf("stats %+v", st.Stats())
	}
	if _, err := st.Read(ctx, cover, 0, 0); !errors.Is(err, upcast.ErrUpcast) {
		t.Errorf("Read = %v; want ErrUpcast", err)
	}
}

// The loads and appends of deadlines fired together are upcast as one
// aggregate's Read and Append are.
func TestGroupsUpcast(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	raw := memory.New()
	st := upcast.Storage(raw, chain(&calls), upcast.Options{})
	one, two := eventstore.Cover{Domain: "customer", Root: uuid.New()}, eventstore.Cover{Domain: "customer", Root: uuid.New()}
	if _, err := raw.Append(ctx, one, []eventstore.Page{{TypeURL: created, Payload: []byte("ann")}}); err != nil {
		t.Fatal(err)
	}
	books, err := st.(eventstore.BookLoader).LoadBooks(ctx, []eventstore.Cover{one, two})
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 2 || len(books[0].Events) != 1 || books[0].Events[0].TypeURL != createdV3 ||
		string(books[0].Events[0].Payload) != "ann|unknown@example.com" || len(books[1].Events) != 0 {
		t.Fatalf("books %+v; want ann's event upcast to v3, and an empty book", books)
	}
	res := st.(eventstore.GroupAppender).AppendGroup(ctx, []eventstore.GroupAppend{
		{Cover: two, Pages: []eventstore.Page{{TypeURL: created, Payload: []byte("bob")}}},
	})
	if res[0].Err != nil || len(res[0].Events) != 1 || res[0].Events[0].TypeURL != createdV3 || string(res[0].Events[0].Payload) != "bob|unknown@example.com" {
		t.Fatalf("group append returned %+v; want bob's event upcast to v3", res)
	}
}
