package command_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// counted is echo that counts its calls.
func counted(calls *atomic.Int32) business.Logic {
	return logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		calls.Add(1)
		return echo(ctx, req)
	})
}

func keyed(cover eventstore.Cover, key string, types ...string) business.CommandBook {
	b := cmd(cover, types...)
	b.IdempotencyKey = key
	return b
}

func TestKeyRepeatAnswersWithTheFirstEvents(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, counted(&calls), command.Options{})
	cover := orders()
	first, err := f.coord.Handle(t.Context(), keyed(cover, "order-1/create", "Create", "Add"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := f.coord.Handle(t.Context(), keyed(cover, "order-1/create", "Create", "Add"))
		if err != nil {
			t.Fatalf("repeat: %v", err)
		}
		if !reflect.DeepEqual(again.Books, first.Books) {
			t.Fatalf("repeat answered %+v; want the first answer %+v", again.Books, first.Books)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("business logic called %d times; want once", calls.Load())
	}
	requireContiguous(t, f.store, cover, 2)
	// Without the key, the same command is a new one.
	if _, err := f.coord.Handle(t.Context(), cmd(cover, "Create", "Add")); err != nil {
		t.Fatal(err)
	}
	requireContiguous(t, f.store, cover, 4)
}

// Fire (a deadline's command) skips the lookup before business logic; the
// keyed append's own check keeps a repeated firing applied once.
func TestFireRepeatedIsAppliedOnce(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, counted(&calls), command.Options{})
	cover := orders()
	for i := range 3 {
		if err := f.coord.Fire(t.Context(), keyed(cover, "deadline:expire:c1", "Expire")); err != nil {
			t.Fatalf("firing %d: %v", i+1, err)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("business logic called %d times; want 3 (no lookup first)", calls.Load())
	}
	requireContiguous(t, f.store, cover, 1)
	// A client's command with that key is answered from it, not decided.
	if _, err := f.coord.Handle(t.Context(), keyed(cover, "deadline:expire:c1", "Expire")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("business logic called %d times; want 3", calls.Load())
	}
	requireContiguous(t, f.store, cover, 1)
}

func TestKeyWithAnotherCommandIsRefused(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, counted(&calls), command.Options{})
	cover := orders()
	if _, err := f.coord.Handle(t.Context(), keyed(cover, "k1", "Create")); err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]business.CommandBook{
		"other pages":   keyed(cover, "k1", "Add"),
		"other payload": {Cover: cover, Pages: []business.Command{{TypeURL: "Create", Payload: []byte("x")}}, IdempotencyKey: "k1"},
		"other cover":   keyed(orders(), "k1", "Create"),
	} {
		_, err := f.coord.Handle(t.Context(), other)
		var mismatch *eventstore.KeyMismatchError
		if !errors.As(err, &mismatch) || !errors.Is(err, eventstore.ErrKeyReused) || mismatch.Key != "k1" {
			t.Errorf("%s: err = %v; want a *KeyMismatchError naming k1", name, err)
		}
	}
	// A Record under a command's key is another command too.
	if _, err := f.coord.RecordKeyed(t.Context(), cover, []eventstore.Page{{TypeURL: "CreateDone", Payload: []byte("Create")}}, eventstore.Cause{}, "k1"); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Errorf("Record under a command's key: err = %v; want ErrKeyReused", err)
	}
	if calls.Load() != 1 {
		t.Errorf("business logic called %d times; want once", calls.Load())
	}
	requireContiguous(t, f.store, cover, 1)
}

func TestRejectedOrEmptyCommandStoresNoKey(t *testing.T) {
	var calls atomic.Int32
	refuse := errors.New("not now")
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		switch calls.Add(1) {
		case 1:
			return business.Decision{}, refuse
		case 2:
			return business.Decision{Cover: req.Command.Cover}, nil
		}
		return echo(ctx, req)
	}), command.Options{})
	cover := orders()
	if _, err := f.coord.Handle(t.Context(), keyed(cover, "k", "Create")); !errors.Is(err, refuse) {
		t.Fatalf("first: %v; want the rejection", err)
	}
	if res, err := f.coord.Handle(t.Context(), keyed(cover, "k", "Create")); err != nil || len(res.Books) != 0 {
		t.Fatalf("second: %v, %v; want nothing happened", res, err)
	}
	if _, err := f.coord.Handle(t.Context(), keyed(cover, "k", "Create")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.store.Lookup(t.Context(), "k"); !ok || calls.Load() != 3 {
		t.Errorf("key stored %v after %d calls; want stored after the third", ok, calls.Load())
	}
	requireContiguous(t, f.store, cover, 1)
}

// inDoubt is a store whose keyed appends are committed, then reported as
// of unknown outcome, as when the connection breaks before the answer (or
// the client's deadline passes) — as long as fail is set.
type inDoubt struct {
	*memory.Store
	fail atomic.Bool
}

func (s *inDoubt) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	events, prior, err := s.Store.AppendKeyed(ctx, cover, pages, key)
	if err == nil && prior == nil && s.fail.Load() {
		return nil, nil, &eventstore.InDoubtError{Op: "append", Err: context.DeadlineExceeded}
	}
	return events, prior, err
}

func TestRetryAfterInDoubtAnswersWithTheCommittedEvents(t *testing.T) {
	store := &inDoubt{Store: memory.New()}
	store.fail.Store(true)
	var calls atomic.Int32
	coord := command.New(store, store, oneDomain{counted(&calls)}, command.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cover := orders()
	_, err := coord.Handle(t.Context(), keyed(cover, "pay-7", "Pay"))
	if !errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Fatalf("first try: err = %v; want the outcome unknown", err)
	}
	res, err := coord.Handle(t.Context(), keyed(cover, "pay-7", "Pay"))
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	stored := requireContiguous(t, store, cover, 1)
	if len(res.Books) != 1 || !reflect.DeepEqual(res.Books[0].Events, stored) {
		t.Errorf("retry answered %+v; want the committed %+v", res.Books, stored)
	}
	if calls.Load() != 1 {
		t.Errorf("business logic called %d times; want once", calls.Load())
	}
}

// Two coordinators on one store (two servers) racing one key store once,
// and all answer with the same events.
func TestKeyRaceBetweenCoordinators(t *testing.T) {
	store := memory.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var calls atomic.Int32
	coords := []*command.Coordinator{
		command.New(store, store, oneDomain{counted(&calls)}, command.Options{MaxAttempts: 3}, log),
		command.New(store, store, oneDomain{counted(&calls)}, command.Options{MaxAttempts: 3}, log),
	}
	cover := orders()
	var wg sync.WaitGroup
	results := make([]command.Result, 16)
	for i := range results {
		wg.Go(func() {
			res, err := coords[i%2].Handle(t.Context(), keyed(cover, "once", "Create"))
			if err != nil {
				t.Errorf("Handle %d: %v", i, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	stored := requireContiguous(t, store, cover, 1)
	for i, res := range results {
		if len(res.Books) != 1 || !reflect.DeepEqual(res.Books[0].Events, stored) {
			t.Errorf("answer %d: %+v; want the stored event", i, res.Books)
		}
	}
}

func TestRecordKeyed(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	cover := orders()
	pages := []eventstore.Page{{TypeURL: "Imported", Payload: []byte("row 1")}}
	first, err := f.coord.RecordKeyed(t.Context(), cover, pages, eventstore.Cause{}, "import-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.coord.RecordKeyed(t.Context(), cover, pages, eventstore.Cause{}, "import-1")
	if err != nil || !reflect.DeepEqual(again.Books, first.Books) {
		t.Fatalf("repeat: %+v, %v; want the first answer %+v", again.Books, err, first.Books)
	}
	requireContiguous(t, f.store, cover, 1)
	if _, err := f.coord.RecordKeyed(t.Context(), cover, []eventstore.Page{{TypeURL: "Imported", Payload: []byte("row 2")}}, eventstore.Cause{}, "import-1"); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Errorf("other pages: err = %v; want ErrKeyReused", err)
	}
}

func TestBadKeys(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	for _, key := range []string{strings.Repeat("k", command.MaxKeyLength+1), "tab\there", "é"} {
		_, err := f.coord.Handle(t.Context(), keyed(orders(), key, "Create"))
		if !errors.Is(err, eventstore.ErrInvalid) || !strings.Contains(err.Error(), "idempotency-key") {
			t.Errorf("key %q: err = %v; want INVALID naming idempotency-key", key, err)
		}
	}
	if err := command.CheckKey(strings.Repeat("k", command.MaxKeyLength)); err != nil {
		t.Errorf("a key of %d bytes: %v", command.MaxKeyLength, err)
	}
}

// plainStore keeps no keys.
type plainStore struct{ eventstore.Store }

func TestKeyOnAStoreWithoutKeys(t *testing.T) {
	store := memory.New()
	coord := command.New(plainStore{store}, store, oneDomain{logicFunc(echo)}, command.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err := coord.Handle(t.Context(), keyed(orders(), "k", "Create"))
	if !errors.Is(err, eventstore.ErrInvalid) {
		t.Errorf("err = %v; want INVALID: the store keeps no keys", err)
	}
}
