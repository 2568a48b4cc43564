package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

// keyedScript is appendScript with an idempotency key, KEYS[5], a hash:
// f (fingerprint), d (domain), r (root), a and b (the sequences [a, b)
// stored), c and e (created and expires, Unix milliseconds by the server's
// clock), expiring with the key itself (PEXPIRE). ARGV after the pages: the
// fingerprint and the TTL in milliseconds.
//
// A live key wins before anything is checked: it returns
// {2, f, d, r, a, b, c, e} and writes nothing. Else it returns as
// appendScript does, having stored the key with the events.
var keyedScript = goredis.NewScript(scriptChecks + keyCheck + appendBody + keyWrites + `
return {1, next, first}`)

// keyCheck answers a live key (KEYS[5]) before anything else.
const keyCheck = `
local k = redis.call('HMGET', KEYS[5], 'f', 'd', 'r', 'a', 'b', 'c', 'e')
if k[1] then
	return {2, k[1], k[2], k[3], k[4], k[5], k[6], k[7]}
end
`

// keyWrites stores the key after appendBody, with the server's time (read
// once per script).
const keyWrites = `
if not checked.now then
	local t = redis.call('TIME')
	checked.now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local now = checked.now
local ttl = tonumber(ARGV[6 + 2 * n])
redis.call('HSET', KEYS[5], 'f', ARGV[5 + 2 * n], 'd', ARGV[1], 'r', ARGV[2],
	'a', next, 'b', next + n, 'c', now, 'e', now + ttl)
redis.call('PEXPIRE', KEYS[5], ttl)
`

// AppendKeyed implements eventstore.Idempotent with one script: the key's
// check, the append and the key's storing run atomically, and Redis expires
// the key itself.
func (s *Store) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed.Load() {
		return nil, nil, eventstore.ErrClosed
	}
	if len(pages) == 0 {
		return nil, nil, nil
	}
	r := s.write(ctx, eventstore.GroupAppend{Cover: cover, Pages: pages, Key: &key})
	return r.Events, r.Prior, r.Err
}

// appendKeyedOne makes one keyed append with keyedScript.
func (s *Store) appendKeyedOne(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	now := time.Now()
	args := append(appendArgs(cover, pages, now), key.Fingerprint[:], max(key.TTL.Milliseconds(), 1))
	res, err := keyedScript.Run(ctx, s.w, append(s.appendKeys(cover), s.k.key(key.ID)), args...).Slice()
	if err != nil {
		return nil, nil, s.writeFailed(err, "append to %s", cover)
	}
	return s.keyedResult(cover, pages, &key, now, res)
}

// Lookup implements eventstore.Idempotent: one HMGET; Redis has dropped
// the expired keys.
func (s *Store) Lookup(ctx context.Context, id string) (eventstore.KeyRecord, bool, error) {
	if s.closed.Load() {
		return eventstore.KeyRecord{}, false, eventstore.ErrClosed
	}
	res, err := s.c.HMGet(ctx, s.k.key(id), "f", "d", "r", "a", "b", "c", "e").Result()
	if err != nil {
		return eventstore.KeyRecord{}, false, s.fail(err, "look up key %q", id)
	}
	if res[0] == nil {
		return eventstore.KeyRecord{}, false, nil
	}
	rec, err := parseKey(id, res)
	if err != nil {
		return eventstore.KeyRecord{}, false, s.fail(err, "look up key %q", id)
	}
	return rec, true, nil
}

// parseKey reads the fields f, d, r, a, b, c, e of a key's hash.
func parseKey(id string, f []any) (eventstore.KeyRecord, error) {
	rec := eventstore.KeyRecord{ID: id}
	str := make([]string, 7)
	for i := range str {
		v, ok := f[i].(string)
		if !ok {
			return rec, fmt.Errorf("key %q: field %d is %T", id, i, f[i])
		}
		str[i] = v
	}
	if len(str[0]) != len(rec.Fingerprint) || len(str[2]) != len(rec.Cover.Root) {
		return rec, fmt.Errorf("key %q: fingerprint of %d bytes, root of %d", id, len(str[0]), len(str[2]))
	}
	copy(rec.Fingerprint[:], str[0])
	rec.Cover.Domain = str[1]
	copy(rec.Cover.Root[:], str[2])
	a, err1 := strconv.ParseUint(str[3], 10, 32)
	b, err2 := strconv.ParseUint(str[4], 10, 32)
	c, err3 := strconv.ParseInt(str[5], 10, 64)
	e, err4 := strconv.ParseInt(str[6], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return rec, fmt.Errorf("key %q: %w", id, err)
	}
	rec.From, rec.To = uint32(a), uint32(b)
	rec.CreatedAt, rec.ExpiresAt = time.UnixMilli(c).UTC(), time.UnixMilli(e).UTC()
	return rec, nil
}

func intAt(res []any, i int) (int64, bool) {
	if i >= len(res) {
		return 0, false
	}
	n, ok := res[i].(int64)
	return n, ok
}

// writeFailed classifies the error of an append script. Redis's own answer
// (an error reply) means the script did not run, or stopped before its
// first write; so does a connection that could not be made. Anything else
// (the connection broke or timed out after the script was sent) leaves its
// outcome unknown: an *eventstore.InDoubtError. The write client never
// re-sends a script by itself (see Open), so nothing is stored twice.
func (s *Store) writeFailed(err error, format string, args ...any) error {
	var rerr goredis.Error
	var op *net.OpError
	if s.closed.Load() || errors.As(err, &rerr) || (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, goredis.ErrPoolTimeout) {
		return s.fail(err, format, args...)
	}
	return &eventstore.InDoubtError{Op: fmt.Sprintf("redis: "+format, args...), Err: err}
}

// keyedResult reads what a keyed append script returned: the key's
// earlier record when it was taken ({2, record…}: the same command again,
// or a KeyMismatchError), else the events it stored. key is nil for an
// append without one.
func (s *Store) keyedResult(cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, now time.Time, res []any) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	events, prior, err := s.scriptResult(cover, pages, key, now, res)
	if len(events) > 0 {
		s.signal()
		s.committed()
	}
	return events, prior, err
}

// scriptResult is keyedResult without the wake-up: AppendGroup sends one
// for the whole group.
func (s *Store) scriptResult(cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, now time.Time, res []any) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if key != nil && len(res) == 8 && res[0] == int64(2) {
		rec, err := parseKey(key.ID, res[1:])
		if err != nil {
			return nil, nil, s.fail(err, "append to %s", cover)
		}
		if rec.Fingerprint != key.Fingerprint {
			return nil, &rec, &eventstore.KeyMismatchError{Key: key.ID}
		}
		return nil, &rec, nil
	}
	ok, okOK := intAt(res, 0)
	next, nextOK := intAt(res, 1)
	if !okOK || !nextOK {
		return nil, nil, fmt.Errorf("redis: append to %s: script returned %v", cover, res)
	}
	events, err := s.stored(cover, pages, now, ok, next)
	if err != nil {
		return nil, nil, err
	}
	return events, nil, nil
}
