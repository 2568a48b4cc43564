package memory_test

import (
	"testing"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/eventstore/storetest"
)

func open(t *testing.T) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.RunStore(t, storetest.Backend{
		Open: func(t *testing.T) eventstore.Store { return open(t) },
	})
}

func TestSnapshots(t *testing.T) {
	storetest.RunSnapshots(t, func(t *testing.T) eventstore.Snapshots { return open(t) })
}

func TestLog(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Open: func(t *testing.T) storetest.LogStore { return open(t) }})
}

func TestSubscriptions(t *testing.T) {
	storetest.RunSubscriptions(t, func(t *testing.T) storetest.SubscriptionStore { return open(t) }, nil)
}

func TestSegments(t *testing.T) {
	storetest.RunSegments(t, func(t *testing.T) storetest.SegmentStore { return open(t) })
}

func TestMarks(t *testing.T) {
	storetest.RunMarks(t, func(t *testing.T) eventstore.Marks { return open(t) })
}

func TestIdempotency(t *testing.T) {
	storetest.RunIdempotency(t, func(t *testing.T) storetest.IdempotentStore { return open(t) })
}

func TestProjections(t *testing.T) {
	storetest.RunProjections(t, func(t *testing.T) eventstore.Projections { return open(t) })
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, func(t *testing.T) storetest.DeadlineStore { return open(t) }, nil)
}
