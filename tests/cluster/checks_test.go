package cluster

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/peer"

	"github.com/evented/evented/api/eventedpb"
)

// TestAnalyse checks the delivery checks on made-up deliveries: repeats
// of a delivered prefix are duplicates, a sequence ahead of the next one is
// out of order, a sequence never delivered is missing.
func TestAnalyse(t *testing.T) {
	a, b, c := agg{"order", uuid.New()}, agg{"order", uuid.New()}, agg{"order", uuid.New()}
	s := stored{events: map[agg][]event{a: make([]event, 3), b: make([]event, 3), c: make([]event, 2)}}
	r := newRecorder("p")
	r.got = map[agg][]uint32{
		a: {0, 1, 0, 1, 2}, // a redelivered prefix: in order, two repeats
		b: {0, 2, 1},       // 2 before 1
		c: {0},             // 1 missing
	}
	d := analyse(r, s, "order")
	if d.events != 8 || d.deliveries != 9 || d.repeats != 2 || d.extra != 2 || d.repeated.n != 1 || d.order.n != 1 || d.missing.n != 1 {
		t.Errorf("analyse = %s; repeats %s; order %s; missing %s", d, d.repeated, d.order, d.missing)
	}
	if !strings.Contains(d.order.examples[0], b.String()+": sequence 2 delivered after only 0..0") {
		t.Errorf("order violation reported as %q", d.order.examples[0])
	}
	if want := a.String() + ": 2 of its 3 events delivered more than once; deliveries by sequence: #0-1 ×2, #2 ×1"; d.repeated.examples[0] != want {
		t.Errorf("repeats reported as %q, want %q", d.repeated.examples[0], want)
	}
}

// TestPositionsObserve checks the lease checks on made-up rows of a
// segments table.
func TestPositionsObserve(t *testing.T) {
	p := &positions{rows: map[string]posRow{}, columns: map[string][]string{}}
	row := func(owner string, token, position int64) []map[string]any {
		return []map[string]any{{"subscriber": "s", "segment": int64(0), "of": int64(4), "owner": owner, "token": token, "position": position, "expires": "t"}}
	}
	p.observe("segments", row("a", 1, 10))
	p.observe("segments", row("a", 1, 20))
	p.observe("segments", row("b", 2, 20)) // a new owner, a new token: fine
	if p.leases.n != 0 || p.backwards.n != 0 || p.schema.n != 0 {
		t.Fatalf("a clean handover reported: %s", p)
	}
	p.observe("segments", row("c", 2, 15)) // same token, other owner; position back
	p.observe("segments", row("c", 1, 15)) // token back
	if p.leases.n != 2 || p.backwards.n != 1 || p.moves != 2 {
		t.Errorf("got %s; leases %s; backwards %s", p, p.leases, p.backwards)
	}
	p.observe("segments", []map[string]any{{"subscriber": "s", "position": int64(1)}})
	if p.schema.n != 1 {
		t.Errorf("a segments table without owner and token not reported: %s", p.schema)
	}
}

// TestRepeatsSayWhoHandedThem: a repeated delivery is reported with the
// connection (one per replica), method and time of each copy.
func TestRepeatsSayWhoHandedThem(t *testing.T) {
	a := agg{"order", uuid.New()}
	s := stored{events: map[agg][]event{a: make([]event, 2)}}
	r := newRecorder("p")
	book := func(seqs ...uint32) *eventedpb.EventBook {
		b := &eventedpb.EventBook{Cover: &eventedpb.Cover{Domain: a.domain, Root: &eventedpb.UUID{Value: a.root[:]}}}
		for _, n := range seqs {
			b.Pages = append(b.Pages, &eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: n}})
		}
		return b
	}
	from := func(port int) context.Context {
		return peer.NewContext(t.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}})
	}
	r.enter(from(1111), book(0, 1), true)()
	r.enter(from(2222), book(1), false)()
	d := analyse(r, s, "order")
	if d.repeated.n != 1 || !strings.Contains(d.repeated.examples[0], "#1 handed by HandleSync from 127.0.0.1:1111 at +0s, Handle from 127.0.0.1:2222 at +") {
		t.Errorf("repeats reported as %q", d.repeated.examples)
	}
}
