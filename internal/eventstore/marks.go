package eventstore

import (
	"context"
	"errors"
	"time"
)

// Mark is how far an aggregate's events have reached one subscriber, and who
// may be delivering the next ones.
//
// Marks let a replica that does not own an aggregate's segment deliver the
// events it appends inline, without the segment's owner delivering them
// again and without breaking the aggregate's order: the replica claims the
// mark at the sequence it is about to append, delivers, and settles; the
// owner skips what the mark says is delivered and waits while a live claim
// is held by another replica.
type Mark struct {
	// Next: every event of the aggregate with a lower sequence has been
	// delivered to the subscriber. It may lag (a settle or advance not yet
	// done), never lead. A missing mark has Next 0.
	Next uint32
	// Claimer is the replica holding a live claim; "" when there is none
	// or it has lapsed.
	Claimer string
	// ClaimID grows with every successful claim of this mark, so a settle
	// can tell its own claim from a later one by the same or another
	// claimer. It is kept when a claim ends (backends keep the last
	// claimer's name beside it, hidden, so a settle can be retried).
	ClaimID uint64
	// From is the sequence the live claim covers events from; 0 without a
	// live claim.
	From uint32
	// Until is when the live claim lapses (the store's clock); zero
	// without a live claim.
	Until time.Time
}

// Live reports whether m carries a claim that had not lapsed when the store
// returned it.
func (m Mark) Live() bool { return m.Claimer != "" }

// ErrClaimLost is returned by a settle whose claim is no longer the
// claimer's: it lapsed, or was settled, and another claim (by anyone, the
// same claimer too) took the mark.
var ErrClaimLost = errors.New("delivery mark claim lost")

// Marks persists delivery marks per (subscriber, aggregate). Times are the
// store's own clock where the backend has one (PostgreSQL, Redis), as for
// Segments.
//
// Implementations are safe for concurrent use by goroutines and processes;
// each method is one atomic step on the mark.
type Marks interface {
	// ClaimMark claims (subscriber, cover) for claimer until now+ttl when
	// its Next equals from (a missing mark is 0) and no other claimer holds
	// a live claim; a claimer's own live claim is replaced. Every success
	// grows ClaimID. ok is false, with the current mark, otherwise.
	ClaimMark(ctx context.Context, subscriber string, cover Cover, from uint32, claimer string, ttl time.Duration) (m Mark, ok bool, err error)
	// SettleMark ends the claim m (m.ClaimID, m.Claimer): with to > m.From
	// it also sets Next to max(Next, to). A claim that lapsed but was not
	// taken by anyone still settles, and settling m again (a retry after a
	// lost reply) does the same again, until another claim takes the mark.
	// ErrClaimLost, and nothing changed, when the mark's claim is no longer
	// m's.
	SettleMark(ctx context.Context, subscriber string, cover Cover, m Mark, to uint32) error
	// AdvanceMark sets Next to max(Next, to), whatever the claim (the
	// segment owner's own deliveries). It never lowers Next.
	AdvanceMark(ctx context.Context, subscriber string, cover Cover, to uint32) error
	// ReadMark returns the mark; Claimer is "" when the claim has lapsed.
	ReadMark(ctx context.Context, subscriber string, cover Cover) (Mark, error)
}

// CheckMark reports, as an *InvalidError, a subscriber or cover that no
// backend accepts: an empty subscriber or domain. Backends call it first.
func CheckMark(subscriber string, cover Cover) error {
	switch {
	case subscriber == "":
		return Invalid("subscriber", "must not be empty")
	case cover.Domain == "":
		return Invalid("domain", "must not be empty")
	}
	return nil
}

// CheckClaim is CheckMark for ClaimMark, which also needs a claimer and a
// positive ttl.
func CheckClaim(subscriber string, cover Cover, claimer string, ttl time.Duration) error {
	switch {
	case claimer == "":
		return Invalid("claimer", "must not be empty")
	case ttl <= 0:
		return Invalid("ttl", "must be positive, got %v", ttl)
	}
	return CheckMark(subscriber, cover)
}

// CheckSettle is CheckMark for SettleMark, whose claim must be one a
// ClaimMark returned.
func CheckSettle(subscriber string, cover Cover, m Mark) error {
	switch {
	case m.Claimer == "":
		return Invalid("claimer", "must not be empty")
	case m.ClaimID == 0:
		return Invalid("claim_id", "must be a claim's id, got 0")
	}
	return CheckMark(subscriber, cover)
}

// SettledNext is what a settle of m with to moves Next to at least: to
// when it is past the claim's first sequence, else 0 (Next stays).
func SettledNext(m Mark, to uint32) uint32 {
	if to > m.From {
		return to
	}
	return 0
}
