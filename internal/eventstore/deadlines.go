package eventstore

import (
	"context"
	"time"
)

// Deadline is a command scheduled for later: business logic or a saga
// asks for it in its reply, evented keeps it in the store and dispatches
// Command at Due, with the idempotency key Key, on one replica.
type Deadline struct {
	// ID names the deadline; scheduling an ID again replaces the pending
	// one (a reschedule), cancelling it removes it.
	ID  string
	Due time.Time
	// Cover is the command's aggregate (its domain lists the deadline).
	Cover Cover
	// Command is the command, encoded by its scheduler; opaque to the store.
	Command []byte
	// Key is the idempotency key the command is dispatched with: a firing
	// repeated (after a crash, by another replica) is applied once.
	Key string
	// CreatedAt is when the deadline was scheduled (set by the store).
	CreatedAt time.Time
}

// DeadlineSlots is how many slots deadlines are spread over by a hash of
// their ID; a segment of n (n ≤ DeadlineSlots) takes the slots s with
// s % n == segment, so one deadline always lands in one segment.
const DeadlineSlots = 64

// DeadlineSlot is the slot of deadline id: FNV-1a over its bytes.
func DeadlineSlot(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % DeadlineSlots)
}

// DeadlineSlotsOf lists the slots of segment (of of), ascending.
func DeadlineSlotsOf(segment, of int) []int {
	var out []int
	for s := segment; s < DeadlineSlots; s += of {
		out = append(out, s)
	}
	return out
}

// MaxDeadlineID bounds a deadline ID, in bytes, so that its idempotency key
// ("deadline:<id>:<command id>") stays within 256 bytes.
const MaxDeadlineID = 200

// CheckDeadline reports, as an *InvalidError, a deadline no backend
// accepts: an ID that is empty, longer than MaxDeadlineID or not printable
// ASCII; a zero Due; an empty cover domain or key.
func CheckDeadline(d Deadline) error {
	switch {
	case d.ID == "" || len(d.ID) > MaxDeadlineID:
		return Invalid("deadline.id", "is %d bytes long; 1 to %d bytes of printable ASCII are allowed", len(d.ID), MaxDeadlineID)
	case d.Due.IsZero():
		return Invalid("deadline.due", "must be set (deadline %q)", d.ID)
	case d.Cover.Domain == "":
		return Invalid("deadline.command.cover.domain", "must not be empty (deadline %q)", d.ID)
	case d.Key == "":
		return Invalid("deadline.key", "must not be empty (deadline %q)", d.ID)
	}
	for i := 0; i < len(d.ID); i++ {
		if d.ID[i] < 0x20 || d.ID[i] > 0x7e {
			return Invalid("deadline.id", "byte %d of %q is %#x; only printable ASCII (0x20 to 0x7e) is allowed", i, d.ID, d.ID[i])
		}
	}
	return nil
}

// CheckDue reports, as an *InvalidError, arguments of DueDeadlines no
// backend accepts.
func CheckDue(segment, of, limit int) error {
	switch {
	case of < 1 || of > DeadlineSlots:
		return Invalid("of", "must be in [1, %d], got %d", DeadlineSlots, of)
	case segment < 0 || segment >= of:
		return Invalid("segment", "must be in [0, %d), got %d", of, segment)
	case limit < 1:
		return Invalid("limit", "must be at least 1, got %d", limit)
	}
	return nil
}

// Deadlines keeps scheduled commands in the store, so that they survive
// restarts and are fired by whichever replica holds their segment.
// Callers find it by type assertion on the store.
//
// Implementations are safe for concurrent use by goroutines and processes.
// Every method is idempotent, so a call whose answer was lost may be sent
// again.
type Deadlines interface {
	// Schedule stores ds, all or nothing; a deadline whose ID is pending
	// already replaces it (due, command and key).
	Schedule(ctx context.Context, ds []Deadline) error
	// Cancel removes the pending deadlines with ids and returns how many
	// there were; an unknown (or already fired) ID is not an error.
	Cancel(ctx context.Context, ids []string) (int, error)
	// DueDeadlines returns at most limit pending deadlines of segment (of
	// of) with Due at or before before, earliest first.
	DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]Deadline, error)
	// Fired removes the deadlines ds once their commands were dispatched,
	// each unless it was rescheduled since (its Key is no longer the
	// stored one): then the new one stays pending. One call (transaction)
	// for many, so that firing thousands does not cost thousands of
	// commits.
	Fired(ctx context.Context, ds []Deadline) error
	// PendingDeadlines lists at most limit pending deadlines of domain (all
	// domains when empty), earliest first.
	PendingDeadlines(ctx context.Context, domain string, limit int) ([]Deadline, error)
	// AppendScheduling is Append (AppendKeyed when key is not nil, on a
	// store that is Idempotent) that applies plan in the same transaction
	// (script, lock): the events, the key and the deadlines are stored
	// together or not at all, so a command's deadlines cannot be lost once
	// its events are acknowledged. The plan's cancellations apply before
	// its schedules, as Cancel and Schedule would. An append that
	// conflicts, or finds a live key instead (prior not nil), applies none
	// of the plan; so do empty pages.
	AppendScheduling(ctx context.Context, cover Cover, pages []Page, key *Key, plan DeadlinePlan) (events []Event, prior *KeyRecord, err error)
}

// DeadlineCounter is the ability of a Deadlines to count its pending
// deadlines cheaply, for metrics (every backend has it; callers find it by
// type assertion).
type DeadlineCounter interface {
	// CountDeadlines returns how many deadlines are pending, and how many
	// of them are due at or before before (overdue: not fired yet).
	CountDeadlines(ctx context.Context, before time.Time) (pending, due int, err error)
}

// DeadlineHorizon is the ability of a Deadlines to tell, from an index,
// when its earliest pending deadline is due: a firer with nothing due
// within its poll then reads none of its segments. Optional (callers find
// it by type assertion); without it a firer reads every segment it holds
// at every poll.
type DeadlineHorizon interface {
	// EarliestDue returns the earliest Due of the pending deadlines, and
	// false when none is pending.
	EarliestDue(ctx context.Context) (time.Time, bool, error)
}

// DeadlinePlan is what one reply does to deadlines: the ones to schedule
// (replacing pending ones of the same IDs) and the IDs to cancel.
type DeadlinePlan struct {
	Schedule []Deadline
	Cancel   []string
}

// Empty reports whether p does nothing.
func (p DeadlinePlan) Empty() bool { return len(p.Schedule) == 0 && len(p.Cancel) == 0 }

// Check reports, as an *InvalidError, a deadline of p no backend accepts.
func (p DeadlinePlan) Check() error {
	for _, d := range p.Schedule {
		if err := CheckDeadline(d); err != nil {
			return err
		}
	}
	return nil
}
