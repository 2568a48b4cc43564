package command_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// BenchmarkCommandOnAKeptAggregate: commands to aggregates of n events
// (n to n+100: each takes 100 commands, then a fresh one is filled, off
// the clock) that the coordinator keeps, without snapshots, with
// in-process logic and the in-memory store: the coordinator's own cost
// per command as aggregates grow.
func BenchmarkCommandOnAKeptAggregate(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			store := memory.New()
			defer store.Close()
			c := command.New(store, store, oneDomain{logicFunc(echo)}, command.Options{}, slog.New(slog.DiscardHandler))
			pages := make([]eventstore.Page, n)
			for i := range pages {
				pages[i] = eventstore.Page{TypeURL: "Happened", Payload: make([]byte, 64)}
			}
			var cmd business.CommandBook
			i := 0
			for b.Loop() {
				if i%100 == 0 {
					b.StopTimer()
					cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
					if _, err := store.Append(b.Context(), cover, pages); err != nil {
						b.Fatal(err)
					}
					cmd = business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: "Do", Payload: make([]byte, 64)}}}
					if _, err := c.Handle(b.Context(), cmd); err != nil { // the load, off the clock
						b.Fatal(err)
					}
					b.StartTimer()
				}
				i++
				if _, err := c.Handle(b.Context(), cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
