package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// event is one stored event.
type event struct {
	typeURL string
	text    string // the payload: a command id, or effectOf for ledger events
}

// stored is the whole store: each aggregate's events by sequence, as
// GetEvents returned them (pages in the order read, sequence numbers kept
// apart so that gaps and repeats show).
type stored struct {
	events map[agg][]event
	seqs   map[agg][]uint32
	total  int
}

// readStore reads every aggregate through r's EventQuery.
func readStore(ctx context.Context, r *replica) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s := stored{events: map[agg][]event{}, seqs: map[agg][]uint32{}}
	roots, err := r.queryClient.GetAggregateRoots(ctx, &emptypb.Empty{})
	if err != nil {
		return s, err
	}
	var aggs []*eventedpb.AggregateRoot
	for {
		a, err := roots.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("GetAggregateRoots through %s: %w", r.name, err)
		}
		aggs = append(aggs, a)
	}
	for _, a := range aggs {
		books, err := r.queryClient.GetEvents(ctx, &eventedpb.Query{Domain: a.GetDomain(), Root: a.GetRoot()})
		if err != nil {
			return s, err
		}
		key := aggOf(&eventedpb.Cover{Domain: a.GetDomain(), Root: a.GetRoot()})
		for {
			b, err := books.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return s, fmt.Errorf("GetEvents %s through %s: %w", key, r.name, err)
			}
			for _, p := range b.GetPages() {
				s.events[key] = append(s.events[key], event{typeURL: p.GetEvent().GetTypeUrl(), text: payloadText(p.GetEvent())})
				s.seqs[key] = append(s.seqs[key], p.GetNum())
				s.total++
			}
		}
	}
	return s, nil
}

// aggs are the stored aggregates in order.
func (s stored) aggs() []agg {
	var aggs []agg
	for a := range s.events {
		aggs = append(aggs, a)
	}
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].String() < aggs[j].String() })
	return aggs
}

// domain is the part of s in one domain ("" for all).
func (s stored) domain(d string) map[agg]int {
	n := map[agg]int{}
	for a, evs := range s.events {
		if d == "" || a.domain == d {
			n[a] = len(evs)
		}
	}
	return n
}

func (s stored) count(d string) int {
	var n int
	for _, c := range s.domain(d) {
		n += c
	}
	return n
}

// problems collects failures of one kind: how many, and the first few
// described in full.
type problems struct {
	n        int
	examples []string
}

func (p *problems) add(format string, args ...any) {
	p.n++
	if len(p.examples) < 8 {
		p.examples = append(p.examples, fmt.Sprintf(format, args...))
	}
}

func (p problems) String() string {
	if p.n == 0 {
		return "none"
	}
	more := ""
	if p.n > len(p.examples) {
		more = fmt.Sprintf("\n\t… and %d more", p.n-len(p.examples))
	}
	return fmt.Sprintf("%d:\n\t%s%s", p.n, strings.Join(p.examples, "\n\t"), more)
}

// report fails t with what p holds, titled.
func (p problems) report(t *testing.T, title string) {
	t.Helper()
	if p.n > 0 {
		t.Errorf("%s: %s", title, p)
	}
}

// checkStored checks that every acknowledged event is stored once: each
// aggregate's sequences are 0..n-1, no command's event is stored twice,
// and each acknowledged event is stored where its reply said.
func checkStored(t *testing.T, s stored, acks []ack) {
	t.Helper()
	var gaps, twice, lost problems
	where := map[string][]string{} // command id → where stored
	for a, seqs := range s.seqs {
		for i, seq := range seqs {
			if seq != uint32(i) {
				gaps.add("%s: event %d of %d has sequence %d (sequences read: %v)", a, i, len(seqs), seq, seqs)
				break
			}
		}
		if a.domain == "order" {
			for i, e := range s.events[a] {
				where[e.text] = append(where[e.text], fmt.Sprintf("%s#%d", a, s.seqs[a][i]))
			}
		}
	}
	for id, at := range where {
		if len(at) > 1 {
			twice.add("command %s stored %d times: %s", id, len(at), strings.Join(at, ", "))
		}
	}
	for _, k := range acks {
		evs := s.events[k.agg]
		switch {
		case int(k.seq) >= len(evs):
			lost.add("%s#%d (command %s) acknowledged, not stored (the aggregate has %d events)", k.agg, k.seq, k.id, len(evs))
		case evs[k.seq].text != k.id:
			lost.add("%s#%d acknowledged for command %s, stored with %s %q", k.agg, k.seq, k.id, evs[k.seq].typeURL, evs[k.seq].text)
		}
	}
	gaps.report(t, "aggregates whose sequences are not 0..n-1")
	twice.report(t, "commands stored more than once")
	lost.report(t, "acknowledged events not stored as acknowledged")
}

// delivered is what one consumer got of the events it should get.
type delivered struct {
	consumer   string
	events     int // stored events it should get
	deliveries int // deliveries of them, repeats included
	missing    problems
	repeated   problems // aggregates with events delivered more than once
	repeats    int      // events delivered more than once
	extra      int      // deliveries beyond the first of each event
	most       int      // most deliveries of one event
	order      problems // aggregates whose deliveries broke sequence order
	unknown    problems // deliveries of events the store does not have
	overlaps   problems // aggregates delivered by two calls at once
}

func (d delivered) String() string {
	return fmt.Sprintf("%s: %d events, %d deliveries, %d missing, %d delivered more than once (in %d aggregates; %d extra deliveries, at most %d of one event), %d aggregates out of order, %d aggregates in two calls at once",
		d.consumer, d.events, d.deliveries, d.missing.n, d.repeats, d.repeated.n, d.extra, d.most, d.order.n, d.overlaps.n)
}

// analyse compares what r recorded with the stored events of domain ("":
// all). Order: an aggregate's deliveries, repeats of sequences already
// delivered removed, must be 0, 1, 2, …: a sequence above the next one
// expected is a gap, reported with the deliveries so far.
func analyse(r *recorder, s stored, domain string) delivered {
	got, overlaps, _, _ := r.snapshot()
	d := delivered{consumer: r.name}
	want := s.domain(domain)
	var aggs []agg
	for a := range want {
		aggs = append(aggs, a)
	}
	for a := range got {
		if _, ok := want[a]; !ok && (domain == "" || a.domain == domain) {
			aggs = append(aggs, a)
		}
	}
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].String() < aggs[j].String() })
	for _, a := range aggs {
		n, seqs := want[a], got[a]
		d.events += n
		times := make([]int, n)
		var next uint32
		ordered := true
		for i, seq := range seqs {
			if int(seq) >= n {
				d.unknown.add("%s#%d delivered, the store has %d events", a, seq, n)
				continue
			}
			d.deliveries++
			times[seq]++
			switch {
			case seq == next:
				next++
			case seq > next && ordered:
				ordered = false
				d.order.add("%s: sequence %d delivered after only 0..%d had been (delivery %d of %d; deliveries so far %v)", a, seq, int(next)-1, i+1, len(seqs), head(seqs[:i+1]))
			}
		}
		var repeats int
		var who []string
		for seq, k := range times {
			switch {
			case k == 0:
				d.missing.add("%s#%d never delivered (deliveries: %v)", a, seq, head(seqs))
			case k > 1:
				repeats++
				d.extra += k - 1
				if calls := r.callsOf(a, uint32(seq)); len(calls) > 0 && len(who) < 4 {
					who = append(who, fmt.Sprintf("#%d %s", seq, describeCalls(calls)))
				}
			}
			d.most = max(d.most, k)
		}
		if repeats > 0 {
			d.repeats += repeats
			var by string
			if len(who) > 0 {
				by = "; " + strings.Join(who, "; ")
			}
			d.repeated.add("%s: %d of its %d events delivered more than once; deliveries by sequence: %s%s", a, repeats, n, runs(times), by)
		}
		if o := overlaps[a]; o > 0 {
			d.overlaps.add("%s: %d calls began while another call for it was in progress", a, o)
		}
	}
	return d
}

// describeCalls says who handed one event each time: the connection
// (one per replica), the method, and the time after the first.
func describeCalls(calls []call) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		method := "Handle"
		if c.sync {
			method = "HandleSync"
		}
		parts[i] = fmt.Sprintf("%s from %s at +%s", method, c.peer, c.at.Sub(calls[0].at).Round(time.Microsecond))
	}
	return "handed by " + strings.Join(parts, ", ")
}

// runs writes counts by sequence compactly: "#0-6 ×3, #7 ×2".
func runs(counts []int) string {
	var parts []string
	for i := 0; i < len(counts); {
		j := i
		for j+1 < len(counts) && counts[j+1] == counts[i] {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("#%d ×%d", i, counts[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-%d ×%d", i, j, counts[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func head(seqs []uint32) string {
	if len(seqs) <= 24 {
		return fmt.Sprint(seqs)
	}
	return fmt.Sprintf("%v … (%d in all)", seqs[:24], len(seqs))
}

// report fails t with d's problems; exact also fails repeats and overlaps.
func (d delivered) report(t *testing.T, exact bool) {
	t.Helper()
	d.missing.report(t, d.consumer+": stored events never delivered")
	d.order.report(t, d.consumer+": aggregates delivered out of order")
	d.unknown.report(t, d.consumer+": deliveries of events not in the store")
	if exact {
		d.repeated.report(t, fmt.Sprintf("%s: in a run without faults, %d of %d events delivered more than once (%d extra deliveries); aggregates", d.consumer, d.repeats, d.events, d.extra))
		d.overlaps.report(t, d.consumer+": in a run without faults, aggregates delivered by two calls at once")
	} else if d.repeated.n > 0 {
		t.Logf("%s: %d of %d events delivered more than once (%d extra deliveries; allowed with faults); aggregates %s", d.consumer, d.repeats, d.events, d.extra, d.repeated)
	}
}

// effects is what the saga's effects in the ledger domain show.
type effects struct {
	orders   int      // order events, each wanting one ledger entry
	entries  int      // ledger events
	missing  problems // order events without an entry
	repeated problems // order aggregates with events with more than one
	repeats  int      // order events with more than one
	extra    int
	unknown  problems // entries naming no stored order event
}

func (e effects) String() string {
	return fmt.Sprintf("saga effects: %d order events, %d ledger entries, %d without one, %d with more than one (in %d aggregates; %d extra entries)",
		e.orders, e.entries, e.missing.n, e.repeats, e.repeated.n, e.extra)
}

func countEffects(s stored) effects {
	var e effects
	made := map[string]int{}
	for a, evs := range s.events {
		if a.domain != "ledger" {
			continue
		}
		for i, ev := range evs {
			e.entries++
			made[ev.text]++
			if ev.typeURL != entryAddedType {
				e.unknown.add("ledger/%s#%d is %s", a.root, i, ev.typeURL)
			}
		}
	}
	want := map[string]bool{}
	for _, a := range s.aggs() {
		evs := s.events[a]
		if a.domain != "order" {
			continue
		}
		entries := make([]int, len(evs))
		var repeats int
		for seq := range evs {
			key := effectOf(a.root, uint32(seq))
			want[key] = true
			e.orders++
			entries[seq] = made[key]
			switch n := made[key]; {
			case n == 0:
				e.missing.add("%s#%d has no ledger entry", a, seq)
			case n > 1:
				repeats++
				e.extra += n - 1
			}
		}
		if repeats > 0 {
			e.repeats += repeats
			e.repeated.add("%s: %d of its %d events have more than one ledger entry; entries by sequence: %s", a, repeats, len(evs), runs(entries))
		}
	}
	for key, n := range made {
		if !want[key] {
			e.unknown.add("%d ledger entries name %q, not a stored order event", n, key)
		}
	}
	return e
}

// report fails t with e's problems; once also fails effects applied more
// than once.
func (e effects) report(t *testing.T, once bool) {
	t.Helper()
	e.missing.report(t, "saga effects missing")
	e.unknown.report(t, "ledger entries the saga did not make")
	if once {
		e.repeated.report(t, fmt.Sprintf("%d of %d order events had their saga effect applied more than once (%d extra ledger entries); aggregates", e.repeats, e.orders, e.extra))
	} else if e.repeated.n > 0 {
		t.Logf("%d of %d order events had their saga effect applied more than once (%d extra ledger entries; allowed with faults); aggregates %s", e.repeats, e.orders, e.extra, e.repeated)
	}
}

// settle waits, within limit, until the consumers (and the bus, when
// watched) have every stored event and every order event its effect,
// nothing has been delivered for quiet
// and the store has stopped growing; it returns the store as last read.
func (c *cluster) settle(ctx context.Context, cons *consumers, limit, quiet time.Duration) stored {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	began := time.Now()
	prev := -1
	for {
		s, err := readStore(ctx, c.live())
		if err == nil {
			p, rc, g, e := analyse(cons.projector, s, ""), analyse(cons.receipts, s, "order"), analyse(cons.saga, s, "order"), countEffects(s)
			_, _, _, lastP := cons.projector.snapshot()
			_, _, _, lastR := cons.receipts.snapshot()
			_, _, _, lastS := cons.saga.snapshot()
			caught := p.missing.n == 0 && rc.missing.n == 0 && g.missing.n == 0 && e.missing.n == 0
			lastB := time.Time{}
			if cons.bus != nil {
				caught = caught && cons.bus.delivered(s).missing.n == 0
				_, _, _, lastB = cons.bus.rec.snapshot()
			}
			if caught && s.total == prev && time.Since(lastP) > quiet && time.Since(lastR) > quiet && time.Since(lastS) > quiet && time.Since(lastB) > quiet {
				c.t.Logf("consumers caught up %v after the load", time.Since(began).Round(time.Millisecond))
				return s
			}
			prev = s.total
		}
		select {
		case <-ctx.Done():
			c.t.Logf("consumers not caught up within %v of the load's end: checking what there is", limit)
			s, err := readStore(context.Background(), c.live())
			if err != nil {
				c.t.Fatal(err)
			}
			return s
		case <-time.After(300 * time.Millisecond):
		}
	}
}
