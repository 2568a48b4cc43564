package eventstore

import "context"

// Logged is one event with its place in the global log: the cover it belongs
// to and its position among all appends of the store.
type Logged struct {
	Position uint64
	Cover    Cover
	Event
}

// Log is the store read as one stream of every append in commit order: the
// outbox that subscriptions (projectors, sagas, bus relays) are fed from.
// Every backend implements it; the conformance suite checks it.
//
// Positions start at 1 and increase with commit order; they may have gaps
// (a backend may burn numbers on rollback) but the order is final: once
// ReadLog has returned an event at position P, no event at a position <= P
// that was not returned can appear later. A subscriber that remembers the
// last position it handled therefore never skips nor repeats an event.
// Within one cover, positions follow sequences.
type Log interface {
	// ReadLog returns up to limit events with Position > after, in position
	// order. It returns fewer (possibly none) when no more are committed yet.
	ReadLog(ctx context.Context, after uint64, limit int) ([]Logged, error)

	// Head is the highest position committed so far (0 for an empty store).
	Head(ctx context.Context) (uint64, error)

	// Appended returns a channel that is closed at the next commit made
	// through this Store value after the call (a wake-up for readers waiting
	// at the head; it carries no data). A reader calls it before ReadLog and
	// waits on it when ReadLog returned nothing. Commits by other processes
	// sharing the database may not signal it (a backend with cross-process
	// notification, such as LISTEN/NOTIFY, may), so readers also poll.
	Appended() <-chan struct{}
}
