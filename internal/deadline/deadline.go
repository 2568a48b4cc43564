// Package deadline is evented's durable deadlines: commands that business
// logic or a saga schedules for later in its reply. The command
// coordinator stores them (Plan) in the transaction of the reply's events
// (eventstore.Deadlines.AppendScheduling), a saga's delivery (Save) before
// its checkpoint moves; a Firer on every replica dispatches the due ones of the segments it
// holds a lease on, with the idempotency key the deadline was stored with,
// so a firing repeated after a crash or by another replica is applied
// once. It imports no driver, no gRPC and no YAML.
package deadline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
)

// Key is the idempotency key the command of deadline id, scheduled by the
// command commandID, is dispatched with: one per scheduling, so a
// deadline rescheduled later under the same id is a new command, and a
// firing repeated is the same one.
func Key(id, commandID string) string {
	k := "deadline:" + id + ":" + commandID
	if len(k) > 256 { // a saga's command id is long: its digest then
		sum := sha256.Sum256([]byte(commandID))
		k = "deadline:" + id + ":" + hex.EncodeToString(sum[:16])
	}
	return k
}

// stored is a deadline's command as the store keeps it (opaque to it).
type stored struct {
	Cover         eventstore.Cover
	Pages         []business.Command
	CorrelationID string `json:",omitempty"`
}

// Encode is the stored form of cmd; its correlation id goes with it, so
// the events the deadline produces share the scheduler's.
func Encode(cmd business.CommandBook) ([]byte, error) {
	return json.Marshal(stored{Cover: cmd.Cover, Pages: cmd.Pages, CorrelationID: cmd.Cause.CorrelationID})
}

// Decode reads a deadline's stored command back, with its idempotency key.
func Decode(d eventstore.Deadline) (business.CommandBook, error) {
	var s stored
	if err := json.Unmarshal(d.Command, &s); err != nil {
		return business.CommandBook{}, fmt.Errorf("deadline %q: stored command: %w", d.ID, err)
	}
	return business.CommandBook{Cover: s.Cover, Pages: s.Pages, IdempotencyKey: d.Key,
		Cause: eventstore.Cause{CorrelationID: s.CorrelationID}}, nil
}

// Plan turns the deadlines of one reply into the store's writes: the
// deadlines to schedule and the IDs to cancel. Of several entries with one
// ID the last one counts. cause is the scheduling command's.
func Plan(ds []business.Deadline, cause eventstore.Cause) (schedule []eventstore.Deadline, cancel []string, err error) {
	last := map[string]int{}
	for i, d := range ds {
		last[d.ID] = i
	}
	for i, d := range ds {
		if last[d.ID] != i {
			continue
		}
		if d.Cancel {
			cancel = append(cancel, d.ID)
			continue
		}
		cmd := d.Command
		cmd.Cause = eventstore.Cause{CorrelationID: cause.CorrelationID}
		enc, err := Encode(cmd)
		if err != nil {
			return nil, nil, err
		}
		sd := eventstore.Deadline{ID: d.ID, Due: d.Due, Cover: cmd.Cover, Command: enc, Key: Key(d.ID, cause.CommandID)}
		if err := eventstore.CheckDeadline(sd); err != nil {
			return nil, nil, err
		}
		schedule = append(schedule, sd)
	}
	return schedule, cancel, nil
}

// Attempts is how many times Save tries a write that failed.
const Attempts = 5

// Save writes the deadlines of one reply that has no events of its own to
// write them with (a command that produced none, a saga): cancellations
// first, then the schedules, each retried (Attempts, with a short backoff)
// since both are idempotent.
func Save(ctx context.Context, store eventstore.Deadlines, ds []business.Deadline, cause eventstore.Cause, log *slog.Logger) error {
	if len(ds) == 0 {
		return nil
	}
	if store == nil {
		return errors.New("the event store keeps no deadlines")
	}
	schedule, cancel, err := Plan(ds, cause)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // committed events: finish what they asked for
	return retry(ctx, log, func(ctx context.Context) error {
		if len(cancel) > 0 {
			if _, err := store.Cancel(ctx, cancel); err != nil {
				return fmt.Errorf("cancel deadlines %q: %w", cancel, err)
			}
		}
		if err := store.Schedule(ctx, schedule); err != nil {
			return fmt.Errorf("schedule %d deadlines: %w", len(schedule), err)
		}
		return nil
	})
}

func retry(ctx context.Context, log *slog.Logger, fn func(context.Context) error) error {
	wait := 50 * time.Millisecond
	var err error
	for attempt := 1; attempt <= Attempts; attempt++ {
		if err = fn(ctx); err == nil || errors.Is(err, eventstore.ErrInvalid) || errors.Is(err, eventstore.ErrClosed) {
			return err
		}
		if attempt < Attempts {
			log.Warn("storing deadlines failed; retrying", "attempt", attempt, "err", err)
			time.Sleep(wait)
			wait *= 2
		}
	}
	return err
}

// Firing is a due deadline and its command (decoded, with its idempotency
// key), fired with others due at the same time (GroupDispatch).
type Firing struct {
	Deadline eventstore.Deadline
	Command  business.CommandBook
}

// Outcome is what became of one Firing.
type Outcome struct {
	// Err is nil when the command was applied (or had been), else what
	// Dispatch would have returned.
	Err error
	// Removed is true when the deadline was removed from the store with
	// the command's events (in their transaction): the Firer has nothing
	// left to remove.
	Removed bool
}

// GroupDispatch handles the commands of many deadlines at once, as Dispatch
// does each (one failing never holds up or fails the others), and returns
// one Outcome per Firing, in order. Two firings for one aggregate are
// applied in their order.
type GroupDispatch func(ctx context.Context, fs []Firing) []Outcome
