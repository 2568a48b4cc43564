package postgres

import (
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// want must agree with eventstore.Assign: the batch statement stores an
// append only when its cover's next sequence is the one want says.
func TestWant(t *testing.T) {
	num := func(n uint32) eventstore.Page { return eventstore.Page{HasNum: true, Num: n} }
	free := eventstore.Page{}
	for _, c := range []struct {
		name  string
		pages []eventstore.Page
		want  int64 // -2: nil, any head
	}{
		{"unnumbered", []eventstore.Page{free, free}, -2},
		{"first numbered", []eventstore.Page{num(4), free}, 4},
		{"later numbered", []eventstore.Page{free, free, num(7)}, 5},
		{"consistent", []eventstore.Page{num(3), num(4), free, num(6)}, 3},
		{"inconsistent", []eventstore.Page{num(3), num(3)}, -1},
		{"below zero", []eventstore.Page{free, num(0)}, -1},
	} {
		got := want(c.pages)
		switch {
		case c.want == -2 && got != nil:
			t.Errorf("%s: want %d; want nil", c.name, *got)
		case c.want != -2 && (got == nil || *got != c.want):
			t.Errorf("%s: want %v; want %d", c.name, got, c.want)
		}
		// Every head from 0 to 9: Assign accepts exactly the one want says.
		for next := range uint32(10) {
			_, err := eventstore.Assign(eventstore.Cover{}, next, c.pages, time.Time{})
			fits := got == nil || *got == int64(next)
			if (err == nil) != fits {
				t.Errorf("%s at head %d: Assign says %v, want says fits=%v", c.name, next, err, fits)
			}
		}
	}
}
