package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// A book arrives as published: cover, sequences, times, type and payload
// bytes; the publisher's later changes to its slices do not reach it.
func testPublishReceive(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	c := cover(e.domain("x"))
	one := book(c, 0, 1)
	three := book(c, 1, 3)
	three.Events[1].Payload = nil // an empty payload stays empty
	e.publish(ctx, e.bus, one)
	e.publish(ctx, e.bus, three)
	want := []eventstore.Book{book(c, 0, 1), book(c, 1, 3)}
	want[1].Events[1].Payload = nil
	one.Events[0].Payload[0] = '!' // after Publish returned: must not show

	got := e.receive(ctx, "s", sub, 2)
	for i := range want {
		if diff := diffBook(want[i], got[i]); diff != "" {
			t.Errorf("book %d: %s", i, diff)
		}
	}
	for _, r := range e.received {
		if r.msg.Redelivered {
			t.Errorf("first delivery of %s marked Redelivered", bus.ID(r.msg.Book))
		}
	}
}

// Books of one cover arrive in the order they were published, with covers
// published concurrently (3 covers × 200 books).
func testOrderPerCover(t *testing.T, ctx context.Context, e *env) {
	const covers, books = 3, 200
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	var wg sync.WaitGroup
	for range covers {
		c := cover(e.domain("x"))
		wg.Go(func() {
			seq := uint32(0)
			for i := range books {
				n := 1 + i%3 // books of 1 to 3 events
				if err := e.tryPublish(ctx, e.bus, book(c, seq, n)); err != nil {
					t.Errorf("Publish %s seq %d: %v", c, seq, err)
					return
				}
				seq += uint32(n)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	next := map[eventstore.Cover]uint32{}
	for _, b := range e.receive(ctx, "s", sub, covers*books) {
		if b.Events[0].Sequence != next[b.Cover] {
			t.Fatalf("cover %s: book starting at %d arrived when %d was next", b.Cover, b.Events[0].Sequence, next[b.Cover])
		}
		next[b.Cover] = b.Events[len(b.Events)-1].Sequence + 1
	}
	if len(next) != covers {
		t.Fatalf("books of %d covers arrived, want %d", len(next), covers)
	}
}

// A subscription receives its domain only; "" receives all. Domain "x"
// does not match "x.y": a domain is one routing word, dots included.
func testDomainFilter(t *testing.T, ctx context.Context, e *env) {
	x, y, xy := e.domain("x"), e.domain("y"), e.domain("x")+".y"
	subX := e.subscribe(ctx, e.bus, "x", x)
	subY := e.subscribe(ctx, e.bus, "y", y)
	subAll := e.subscribe(ctx, e.bus, "all", "")
	bx, by, bxy := book(cover(x), 0, 1), book(cover(y), 0, 1), book(cover(xy), 0, 1)
	for _, b := range []eventstore.Book{bx, by, bxy} {
		e.publish(ctx, e.bus, b)
	}
	check := func(label string, sub bus.Subscription, want ...eventstore.Book) {
		got := ids(e.receive(ctx, label, sub, len(want)))
		slices.Sort(got)
		w := ids(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s received %v, want %v", label, got, w)
		}
	}
	check("all", subAll, bx, by, bxy)
	check("x", subX, bx)
	check("y", subY, by)
	// What the filter wrongly let through would have come with the rest.
	e.quiet(ctx, "x", subX, 300*time.Millisecond)
	e.quiet(ctx, "y", subY, 50*time.Millisecond)
}

// A nacked book comes again, marked Redelivered, and then is gone once
// acked.
func testNackRedelivers(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	b := book(cover(e.domain("x")), 0, 2)
	e.publish(ctx, e.bus, b)
	m, err := e.next(ctx, "s", sub)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Nack(ctx); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	m, err = e.next(ctx, "s", sub)
	if err != nil {
		t.Fatal(err)
	}
	if bus.ID(m.Book) != bus.ID(b) || !m.Redelivered {
		t.Fatalf("after Nack got %s redelivered=%v, want %s redelivered", bus.ID(m.Book), m.Redelivered, bus.ID(b))
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	e.quiet(ctx, "s", sub, 300*time.Millisecond)
}

// Books received and not acked when a subscription closes come to the next
// one, marked Redelivered; acked ones do not come again. With a backend that
// gives them back at once they come first, in order.
func testCloseRedeliversUnacked(t *testing.T, ctx context.Context, e *env) {
	name := e.name("s")
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	c := cover(e.domain("x"))
	for i := range 4 {
		e.publish(ctx, e.bus, book(c, uint32(i), 1))
	}
	e.receive(ctx, "s", sub, 1) // acked
	var held []*bus.Message
	for range 2 { // received, not settled before Close
		m, err := e.next(ctx, "s", sub)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := held[0].Ack(ctx); err == nil {
		t.Error("Ack after the Subscription closed succeeded; the book is given back, so the ack must fail")
	}
	again, err := e.bus.Subscribe(ctx, name, e.domain("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	rctx, cancel := context.WithTimeout(ctx, e.backend.RedeliveryDelay+5*time.Second)
	defer cancel()
	var got []uint32
	for range 3 {
		m, err := e.next(rctx, "s", again)
		if err != nil {
			t.Fatalf("after reopening, having got %v: %v", got, err)
		}
		if s := m.Book.Events[0].Sequence; s < 3 && !m.Redelivered {
			t.Errorf("unacked book %d came again without Redelivered", s)
		}
		got = append(got, m.Book.Events[0].Sequence)
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if e.backend.RedeliveryDelay == 0 && !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("after reopening got sequences %v, want [1 2 3]", got)
	}
	slices.Sort(got)
	if !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("after reopening got sequences %v, want 1, 2 and 3", got)
	}
	e.quiet(ctx, "s", again, 300*time.Millisecond)
}

// A durable subscription keeps what was published while it was closed.
func testDurableWhileClosed(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	c := cover(e.domain("x"))
	var want []eventstore.Book
	for i := range 10 {
		want = append(want, book(c, uint32(i), 1))
		e.publish(ctx, e.bus, want[i])
	}
	again, err := e.bus.Subscribe(ctx, e.name("s"), e.domain("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := ids(e.receive(ctx, "s", again, 10)); !slices.Equal(got, ids(want)) {
		t.Fatalf("after reopening got %v, want %v", got, ids(want))
	}
}

// A durable subscription outlives the client that created it: another
// client publishes while it is gone, a third one receives.
func testDurableAcrossClients(t *testing.T, ctx context.Context, e *env) {
	first := e.backend.Open(t)
	sub := e.subscribe(ctx, first, "s", e.domain("x"))
	sub.Close()
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := cover(e.domain("x"))
	e.publish(ctx, e.bus, book(c, 0, 2))
	e.publish(ctx, e.bus, book(c, 2, 1))
	third := e.backend.Open(t)
	defer third.Close()
	again, err := third.Subscribe(ctx, e.name("s"), e.domain("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := ids(e.receive(ctx, "s", again, 2)); !slices.Equal(got, []string{bus.ID(book(c, 0, 2)), bus.ID(book(c, 2, 1))}) {
		t.Fatalf("got %v", got)
	}
}

// A subscription's domain cannot change under its name.
func testFixedDomain(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	sub.Close()
	for _, d := range []string{e.domain("y"), ""} {
		other, err := e.bus.Subscribe(ctx, e.name("s"), d)
		if !errors.Is(err, bus.ErrInvalid) {
			if err == nil {
				other.Close()
			}
			t.Errorf("Subscribe with domain %q after %q: %v, want ErrInvalid", d, e.domain("x"), err)
		}
	}
	same, err := e.bus.Subscribe(ctx, e.name("s"), e.domain("x"))
	if err != nil {
		t.Fatalf("Subscribe with the same domain: %v", err)
	}
	same.Close()
}

// Publishers on many goroutines: every book arrives once, each cover in
// order.
func testConcurrentPublishers(t *testing.T, ctx context.Context, e *env) {
	const publishers, books = 8, 40
	sub := e.subscribe(ctx, e.bus, "s", "")
	var wg sync.WaitGroup
	for p := range publishers {
		c := cover(e.domain(fmt.Sprint("p", p%3)))
		wg.Go(func() {
			for i := range books {
				if err := e.tryPublish(ctx, e.bus, book(c, uint32(i), 1)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	next := map[eventstore.Cover]uint32{}
	for _, b := range e.receive(ctx, "s", sub, publishers*books) {
		if b.Events[0].Sequence != next[b.Cover] {
			t.Fatalf("cover %s: %d arrived when %d was next", b.Cover, b.Events[0].Sequence, next[b.Cover])
		}
		next[b.Cover]++
	}
	e.quiet(ctx, "s", sub, 300*time.Millisecond)
}

// Unsubscribe deletes a subscription with its pending books and closes its
// open Subscription; the name then starts afresh.
func testUnsubscribe(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	c := cover(e.domain("x"))
	e.publish(ctx, e.bus, book(c, 0, 1))
	if err := e.bus.Unsubscribe(ctx, e.name("s")); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := sub.Receive(rctx); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Receive on an unsubscribed subscription: %v, want ErrClosed", err)
	}
	if err := e.bus.Unsubscribe(ctx, e.name("s")); err != nil {
		t.Fatalf("Unsubscribe twice: %v", err)
	}
	if err := e.bus.Unsubscribe(ctx, e.name("never")); err != nil {
		t.Fatalf("Unsubscribe of an unknown name: %v", err)
	}
	fresh := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	e.publish(ctx, e.bus, book(c, 1, 1))
	if got := e.receive(ctx, "s", fresh, 1); got[0].Events[0].Sequence != 1 {
		t.Fatalf("fresh subscription got the book deleted with the old one: %v", ids(got))
	}
}

// A message is settled once.
func testSettleOnce(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	e.publish(ctx, e.bus, book(cover(e.domain("x")), 0, 1))
	m, err := e.next(ctx, "s", sub)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Ack(ctx); !errors.Is(err, bus.ErrSettled) {
		t.Errorf("second Ack: %v, want ErrSettled", err)
	}
	if err := m.Nack(ctx); !errors.Is(err, bus.ErrSettled) {
		t.Errorf("Nack after Ack: %v, want ErrSettled", err)
	}
	e.quiet(ctx, "s", sub, 300*time.Millisecond)
}

// Receive returns when its context ends, and the subscription still works.
func testReceiveContext(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := sub.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with nothing published: %v, want DeadlineExceeded", err)
	}
	e.publish(ctx, e.bus, book(cover(e.domain("x")), 0, 1))
	e.receive(ctx, "s", sub, 1)
}

// Books, domains and names the bus cannot carry fail with ErrInvalid.
func testInvalid(t *testing.T, ctx context.Context, e *env) {
	c := cover(e.domain("x"))
	gap := book(c, 0, 2)
	gap.Events[1].Sequence = 5
	for name, b := range map[string]eventstore.Book{
		"no events":        {Cover: c},
		"sequence gap":     gap,
		"empty domain":     book(eventstore.Cover{Root: c.Root}, 0, 1),
		"wildcard domain":  book(eventstore.Cover{Domain: "*", Root: c.Root}, 0, 1),
		"space in domain":  book(eventstore.Cover{Domain: "a b", Root: c.Root}, 0, 1),
		"empty word":       book(eventstore.Cover{Domain: "a..b", Root: c.Root}, 0, 1),
		"multiword joker":  book(eventstore.Cover{Domain: "a.#", Root: c.Root}, 0, 1),
		"tail wildcard":    book(eventstore.Cover{Domain: "a.>", Root: c.Root}, 0, 1),
		"trailing dot":     book(eventstore.Cover{Domain: "a.", Root: c.Root}, 0, 1),
		"control char":     book(eventstore.Cover{Domain: "a\x00", Root: c.Root}, 0, 1),
		"non-ascii spaces": book(eventstore.Cover{Domain: "a\u00a0b", Root: c.Root}, 0, 1),
	} {
		if err := e.bus.Publish(ctx, b); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("Publish(%s): %v, want ErrInvalid", name, err)
		}
	}
	for _, tc := range []struct{ name, domain string }{
		{"", ""}, {"a.b", ""}, {"a b", ""}, {"a*", ""}, {strings.Repeat("a", 201), ""},
		{e.name("ok"), "*"}, {e.name("ok"), "a..b"},
	} {
		if sub, err := e.bus.Subscribe(ctx, tc.name, tc.domain); !errors.Is(err, bus.ErrInvalid) {
			if err == nil {
				sub.Close()
				_ = e.bus.Unsubscribe(ctx, tc.name) // the Errorf below is the finding
			}
			t.Errorf("Subscribe(%q, %q): %v, want ErrInvalid", tc.name, tc.domain, err)
		}
	}
}

// Close is idempotent, ends a blocked Receive, and later calls fail with
// ErrClosed.
func testClose(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	other := e.subscribe(ctx, e.bus, "o", e.domain("x"))

	// Closing a subscription ends its blocked Receive.
	done := make(chan error, 1)
	go func() { _, err := sub.Receive(ctx); done <- err }()
	time.Sleep(50 * time.Millisecond) // let it block
	if err := sub.Close(); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("Subscription.Close twice: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("blocked Receive after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscription.Close did not end a blocked Receive within 5s")
	}
	if _, err := sub.Receive(ctx); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Receive after Close: %v, want ErrClosed", err)
	}

	// Closing the bus ends the others.
	go func() { _, err := other.Receive(ctx); done <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := e.bus.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.bus.Close(); err != nil {
		t.Fatalf("Close twice: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("blocked Receive after the bus closed: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Receive within 5s")
	}
	if err := e.bus.Publish(ctx, book(cover(e.domain("x")), 0, 1)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := e.bus.Subscribe(ctx, e.name("late"), ""); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	// The cleanup's Unsubscribe fails on the closed bus: where the broker
	// outlives this client, delete through a new one.
	if e.backend.Shared {
		fresh := e.backend.Open(t)
		for _, label := range []string{"s", "o"} {
			if err := fresh.Unsubscribe(ctx, e.name(label)); err != nil {
				t.Errorf("Unsubscribe(%s) through a new client: %v", e.name(label), err)
			}
		}
	}
}

// The broker goes down and comes back: publishing fails promptly while it
// is down and works again after, the subscription open across the restart
// receives every confirmed book, and what the broker confirmed before going
// down is not lost.
func testBrokerRestart(t *testing.T, ctx context.Context, e *env) {
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	c := cover(e.domain("x"))
	seq := uint32(0)
	for range 20 {
		e.publish(ctx, e.bus, book(c, seq, 1))
		seq++
	}
	// Receive a few before the restart, leaving some unreceived and one
	// received but unacked, which must come again.
	e.receive(ctx, "s", sub, 5)
	if _, err := e.next(ctx, "s", sub); err != nil {
		t.Fatal(err)
	}

	e.backend.Broker.Stop(t)
	const bound = 5 * time.Second
	for i := range 3 {
		pctx, cancel := context.WithTimeout(ctx, bound)
		start := time.Now()
		err := e.tryPublish(pctx, e.bus, book(c, seq, 1))
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatalf("Publish %d with the broker down succeeded", i)
		}
		if took > bound+time.Second {
			t.Fatalf("Publish with the broker down took %v, more than its context's %v", took, bound)
		}
		t.Logf("Publish with the broker down failed after %v: %v", took.Round(time.Millisecond), err)
	}

	e.backend.Broker.Start(t)
	// The same book again until it goes through, as a relay would, then more.
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.tryPublish(pctx, e.bus, book(c, seq, 1))
		cancel()
		if err == nil {
			t.Logf("Publish works again after %d attempts", attempt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still fails 60s after the broker is back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	seq++
	for range 10 {
		e.publish(ctx, e.bus, book(c, seq, 1))
		seq++
	}

	// Everything confirmed arrives; Receive may fail while it reconnects.
	missing := map[string]bool{}
	for id, b := range e.published {
		if b.Events[0].Sequence >= 5 { // 0 to 4 were acked before the restart
			missing[id] = true
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	errs := 0
	for len(missing) > 0 {
		m, err := e.next(rctx, "s", sub)
		if err != nil {
			if rctx.Err() != nil {
				t.Fatalf("%d confirmed books never arrived after the restart (%d Receive errors; last %v)", len(missing), errs, err)
			}
			errs++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		delete(missing, bus.ID(m.Book))
		if err := m.Ack(rctx); err != nil {
			t.Logf("Ack %s: %v (it will come again)", bus.ID(m.Book), err)
		}
	}
	t.Logf("every confirmed book arrived (%d Receive errors while reconnecting)", errs)
}

// A partition (bytes stop, connections stay) makes Publish fail, not claim
// a confirmation that cannot have come; a cut link is reopened by the
// client itself, for publishing and for the open subscription.
func testNetworkFaults(t *testing.T, ctx context.Context, e *env) {
	p := newProxy(t, e.backend.Addr)
	client := e.backend.OpenAddr(t, p.addr())
	sub := e.subscribe(ctx, client, "s", e.domain("x"))
	c := cover(e.domain("x"))
	e.publish(ctx, client, book(c, 0, 1))
	e.receive(ctx, "s", sub, 1)

	p.freeze()
	defer p.unfreeze() // before the cleanups close the client, should the test fail here
	const bound = time.Second
	pctx, cancel := context.WithTimeout(ctx, bound)
	start := time.Now()
	err := e.tryPublish(pctx, client, book(c, 1, 1))
	cancel()
	if err == nil {
		t.Fatal("Publish returned nil while no byte could reach the broker or come back")
	}
	if took := time.Since(start); took > bound+time.Second {
		t.Fatalf("Publish during the partition took %v, more than its context's %v", took, bound)
	}
	t.Logf("Publish during the partition: %v", err)
	if st, ok := client.(bus.SelfTimed); ok {
		// It gives up by itself, within its AckTimeout, with no deadline
		// of its caller's to end it (the relay sets none for it).
		// (A far deadline, so that a Publish that would wait for ever
		// fails this test instead of hanging it.)
		far, cancel := context.WithTimeout(context.WithoutCancel(ctx), st.AckTimeout()+5*time.Second)
		start := time.Now()
		err := e.tryPublish(far, client, book(c, 1, 1))
		took := time.Since(start)
		cancel()
		if !errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("Publish without a deadline during the partition: %v after %v; want ErrUnavailable", err, took)
		}
		if limit := st.AckTimeout() + time.Second; took > limit {
			t.Fatalf("Publish without a deadline during the partition took %v; want it to give up within its AckTimeout %v", took, st.AckTimeout())
		}
		t.Logf("Publish without a deadline during the partition gave up after %v: %v", took, err)
	}

	p.cut()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.tryPublish(pctx, client, book(c, 1, 1))
		cancel()
		if err == nil {
			t.Logf("Publish works again after the cut, attempt %d", attempt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still fails 30s after the cut: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for seq := uint32(2); seq < 6; seq++ {
		e.publish(ctx, client, book(c, seq, 1))
	}

	missing := map[string]bool{}
	for id, b := range e.published {
		if b.Events[0].Sequence >= 1 {
			missing[id] = true
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs := 0
	for len(missing) > 0 {
		m, err := e.next(rctx, "s", sub)
		if err != nil {
			if rctx.Err() != nil {
				t.Fatalf("%d confirmed books never arrived after the cut (%d Receive errors; last %v)", len(missing), errs, err)
			}
			errs++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		delete(missing, bus.ID(m.Book))
		if err := m.Ack(rctx); err != nil {
			t.Logf("Ack %s: %v (it will come again)", bus.ID(m.Book), err)
		}
	}
}

// An AsyncPublisher's PublishAsync (other backends skip this): books
// published asynchronously, many in flight over covers published
// concurrently, each cover's next book only once done said nil for the one
// before, arrive intact and in order per cover; done is called once per
// book; a book the bus cannot take, a closed publisher and a partition
// answer through done too, the partition by itself within the AckTimeout.
func testPublishAsync(t *testing.T, ctx context.Context, e *env) {
	if _, ok := e.bus.(bus.AsyncPublisher); !ok {
		t.Skip("backend is not a bus.AsyncPublisher")
	}
	const covers, books = 20, 30
	sub := e.subscribe(ctx, e.bus, "s", e.domain("x"))
	var wg sync.WaitGroup
	want := map[eventstore.Cover][]uint32{}
	for range covers {
		c := cover(e.domain("x"))
		want[c] = nil
		wg.Go(func() {
			seq := uint32(0)
			for i := range books {
				n := 1 + i%2
				if err := e.tryPublishAsync(ctx, e.bus, book(c, seq, n)); err != nil {
					t.Errorf("PublishAsync %s seq %d: %v", c, seq, err)
					return
				}
				seq += uint32(n)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := map[eventstore.Cover][]uint32{}
	for _, b := range e.receive(ctx, "s", sub, covers*books) {
		for _, ev := range b.Events {
			got[b.Cover] = append(got[b.Cover], ev.Sequence)
		}
	}
	for c := range want {
		for i, s := range got[c] {
			if s != uint32(i) {
				t.Fatalf("%s: received sequences %v, want 0..%d in order", c, got[c], len(got[c])-1)
			}
		}
		if len(got[c]) != books/2*3 {
			t.Fatalf("%s: received %d events, want %d", c, len(got[c]), books/2*3)
		}
	}

	if err := e.tryPublishAsync(ctx, e.bus, eventstore.Book{Cover: cover(e.domain("x"))}); !errors.Is(err, bus.ErrInvalid) {
		t.Errorf("PublishAsync of a book without events: %v, want ErrInvalid", err)
	}

	if e.backend.OpenAddr != nil {
		p := newProxy(t, e.backend.Addr)
		client := e.backend.OpenAddr(t, p.addr())
		c := cover(e.domain("x"))
		if err := e.tryPublishAsync(ctx, client, book(c, 0, 1)); err != nil {
			t.Fatalf("PublishAsync through the proxy: %v", err)
		}
		p.freeze()
		defer p.unfreeze()
		start := time.Now()
		err := e.tryPublishAsync(ctx, client, book(c, 1, 1))
		took := time.Since(start)
		if !errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("PublishAsync during the partition: %v after %v; want ErrUnavailable", err, took)
		}
		if limit := client.(bus.SelfTimed).AckTimeout() + time.Second; took > limit {
			t.Fatalf("PublishAsync during the partition answered after %v; want it within its AckTimeout", took)
		}
		t.Logf("PublishAsync during the partition answered after %v: %v", took, err)
	}

	if err := e.bus.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.tryPublishAsync(ctx, e.bus, book(cover(e.domain("x")), 0, 1)); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("PublishAsync after Close: %v, want ErrClosed", err)
	}
	if e.backend.Shared { // the cleanup's Unsubscribe fails on the closed bus
		if err := e.backend.Open(t).Unsubscribe(ctx, e.name("s")); err != nil {
			t.Errorf("Unsubscribe(%s) through a new client: %v", e.name("s"), err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a second answer would come now
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.twice != "" {
		t.Errorf("done called twice for %s", e.twice)
	}
}
