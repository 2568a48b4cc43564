package command

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
)

// DefaultKeyRetention is how long idempotency keys are kept when Options
// does not say.
const DefaultKeyRetention = 24 * time.Hour

// MaxKeyLength bounds an idempotency key, in bytes.
const MaxKeyLength = 256

// CheckKey validates an idempotency key as the client sent it: 1 to
// MaxKeyLength bytes of printable ASCII (space to tilde).
func CheckKey(key string) error {
	if key == "" {
		return eventstore.Invalid("idempotency-key", "must not be empty when sent (1 to %d bytes of printable ASCII)", MaxKeyLength)
	}
	if len(key) > MaxKeyLength {
		return eventstore.Invalid("idempotency-key", "is %d bytes long; at most %d bytes of printable ASCII are allowed", len(key), MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return eventstore.Invalid("idempotency-key", "byte %d is %#x; only printable ASCII (0x20 to 0x7e) is allowed", i, key[i])
		}
	}
	return nil
}

// commandFingerprint is the digest a command's key is stored with: its
// cover and each page's type and payload, so a repeat matches and another
// command under the same key does not.
func commandFingerprint(cmd business.CommandBook) [32]byte {
	h := sha256.New()
	field(h, []byte("command"))
	field(h, []byte(cmd.Cover.Domain))
	field(h, cmd.Cover.Root[:])
	for _, p := range cmd.Pages {
		field(h, []byte(p.TypeURL))
		field(h, p.Payload)
	}
	return [32]byte(h.Sum(nil))
}

// recordFingerprint is commandFingerprint for a Record: the cover and each
// page's number (when it has one), type and payload. Creation times are
// left out, so a client that stamps "now" again on a retry still matches.
func recordFingerprint(cover eventstore.Cover, pages []eventstore.Page) [32]byte {
	h := sha256.New()
	field(h, []byte("record"))
	field(h, []byte(cover.Domain))
	field(h, cover.Root[:])
	for _, p := range pages {
		num := []byte{}
		if p.HasNum {
			num = binary.BigEndian.AppendUint32(num, p.Num)
		}
		field(h, num)
		field(h, []byte(p.TypeURL))
		field(h, p.Payload)
	}
	return [32]byte(h.Sum(nil))
}

// field writes b length-prefixed, so that fields cannot run into each
// other.
func field(h hash.Hash, b []byte) {
	h.Write(binary.AppendUvarint(nil, uint64(len(b))))
	h.Write(b)
}

// storeKey returns the key to store with a keyed append, or an error when
// the store does not keep keys.
func (c *Coordinator) storeKey(id string, fingerprint [32]byte) (*eventstore.Key, error) {
	if c.keys == nil {
		return nil, eventstore.Invalid("idempotency-key", "this event store does not keep idempotency keys")
	}
	return &eventstore.Key{ID: id, Fingerprint: fingerprint, TTL: c.opts.KeyRetention}, nil
}

// seen looks key up: done is true when it is stored, and res is then the
// answer to give again (or err the mismatch).
func (c *Coordinator) seen(ctx context.Context, key *eventstore.Key) (res Result, done bool, err error) {
	rec, ok, err := c.keys.Lookup(ctx, key.ID)
	if err != nil {
		return Result{}, true, fmt.Errorf("look up idempotency key: %w", err)
	}
	if !ok {
		return Result{}, false, nil
	}
	res, err = c.replay(ctx, key, rec)
	return res, true, err
}

// replay answers a repeated key with the events its first command stored,
// read back from the store; a key stored for another command is a
// *eventstore.KeyMismatchError.
func (c *Coordinator) replay(ctx context.Context, key *eventstore.Key, rec eventstore.KeyRecord) (Result, error) {
	if rec.Fingerprint != key.Fingerprint {
		return Result{}, &eventstore.KeyMismatchError{Key: key.ID}
	}
	events, err := c.store.Read(ctx, rec.Cover, rec.From, rec.To)
	if err != nil {
		return Result{}, fmt.Errorf("read the events of idempotency key %q: %w", key.ID, err)
	}
	if len(events) != int(rec.To-rec.From) {
		return Result{}, fmt.Errorf("idempotency key %q names events %d to %d of %s; the store has %d of them",
			key.ID, rec.From, rec.To, rec.Cover, len(events))
	}
	c.log.DebugContext(ctx, "repeated idempotency key; answering with the stored events",
		"key", key.ID, "cover", rec.Cover, "from", rec.From, "to", rec.To)
	return Result{Books: []eventstore.Book{{Cover: rec.Cover, Events: events}}}, nil
}

// appendKeyed appends pages, with key when there is one, and the reply's
// deadlines in the same transaction (a store that keeps deadlines), so
// that acknowledged events never lose them. prior is the key already
// stored instead (nothing was appended, no deadline written).
func (c *Coordinator) appendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if c.dls != nil && !plan.Empty() {
		return c.dls.AppendScheduling(ctx, cover, pages, key, plan)
	}
	if key == nil {
		events, err := c.store.Append(ctx, cover, pages)
		return events, nil, err
	}
	return c.keys.AppendKeyed(ctx, cover, pages, *key)
}
