package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

// appendScript is one append, run atomically by Redis.
//
// KEYS: the cover's events list, the position counter, the log stream, the
// roots set. ARGV: domain, root (16 bytes), roots member, the number of
// pages n, then n pairs (number or "" when the page has none, encoded
// event).
//
// It publishes nothing: the wake-up for other processes is sent by the
// notifier, after the script, at most one per notifyInterval.
//
// It returns {0, next} when a numbered page does not fit (nothing is
// written), else {1, next, first position}. Everything is checked before
// the first write (see appendBody).
var appendScript = goredis.NewScript(scriptChecks + appendBody + `
return {1, next, first}`)

// scriptChecks begins every append script: checked records the checks of
// the store's shared keys (its position counter, log and roots, its
// deadlines hashes, each slot set's type) already passed in this script.
// A script of one append makes each once anyway; groupScript, whose
// appends share the table, makes each once for the group, since its own
// writes keep what they checked true.
const scriptChecks = `
local checked = {}
`

// appendBody is the script's check and writes, shared with keyedScript.
//
// Redis keeps the writes of a script that fails midway, so every write's
// precondition is checked before the first: each key has its type (else
// the read fails, writing nothing), the position counter is a number and
// is not behind the log (else XADD would fail after RPUSH, leaving an
// event without its log entry), and a cover the roots know still has its
// events. A counter or list that is missing while the rest is there was
// evicted or deleted: the script refuses with an error beginning with
// lossReply, and the store stays as it was. A new cover's first write is
// its roots member (ZADD NX), which is also the check that the roots did
// not know it: one command, not two, for every new aggregate.
const appendBody = `
local next = redis.call('LLEN', KEYS[1])
local n = tonumber(ARGV[4])
for i = 1, n do
	local num = ARGV[3 + 2 * i]
	if num ~= '' and tonumber(num) ~= next + i - 1 then
		return {0, next}
	end
end
if not checked.store then
` + storeCheck + `
	checked.store = true
end
if next == 0 and redis.call('ZADD', KEYS[4], 'NX', 0, ARGV[3]) == 0 then
	return redis.error_reply('` + lossReply + ` the events list ' .. KEYS[1] .. ' is missing while its cover is in ' .. KEYS[4] .. ': it was evicted or deleted')
end
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 1, n do
	redis.call('RPUSH', KEYS[1], ARGV[4 + 2 * i])
	redis.call('XADD', KEYS[3], string.format('%d-0', first + i - 1),
		'd', ARGV[1], 'r', ARGV[2], 's', string.format('%d', next + i - 1))
end
if next > 0 then
	redis.call('ZADD', KEYS[4], 0, ARGV[3])
end`

// storeCheck is appendBody's check of the store's shared keys: the
// position counter, the log and the roots.
const storeCheck = `
local counter = redis.call('GET', KEYS[2])
local position = 0
if counter then
	position = tonumber(counter)
	if not position then
		return redis.error_reply('` + lossReply + ` the position counter ' .. KEYS[2] .. ' holds ' .. string.format('%q', counter) .. ', not a number')
	end
end
local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if top[1] then
	local logged = tonumber(string.match(top[1][1], '^(%d+)-'))
	if logged > position then
		return redis.error_reply(string.format('` + lossReply + ` the position counter %s is at %d, behind the last position of the log %s, %d: it was evicted or reset', KEYS[2], position, KEYS[3], logged))
	end
end
local roots = redis.call('TYPE', KEYS[4])['ok']
if roots ~= 'none' and roots ~= 'zset' then
	return redis.error_reply('` + lossReply + ` the roots ' .. KEYS[4] .. ' are a ' .. roots .. ', not a sorted set')
end`

// Append implements eventstore.Store: written alone or in a group (see
// write).
func (s *Store) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if len(pages) == 0 {
		return nil, nil
	}
	r := s.write(ctx, eventstore.GroupAppend{Cover: cover, Pages: pages})
	return r.Events, r.Err
}

// appendOne makes one append with appendScript.
func (s *Store) appendOne(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	now := time.Now()
	res, err := appendScript.Run(ctx, s.w, s.appendKeys(cover), appendArgs(cover, pages, now)...).Int64Slice()
	if err != nil {
		return nil, s.writeFailed(err, "append to %s", cover)
	}
	if len(res) < 2 {
		return nil, fmt.Errorf("redis: append to %s: script returned %v", cover, res)
	}
	events, err := s.stored(cover, pages, now, res[0], res[1])
	if err != nil {
		return nil, err
	}
	s.signal()
	s.committed()
	return events, nil
}

func (s *Store) appendKeys(cover eventstore.Cover) []string {
	return []string{s.k.events(cover), s.k.position(), s.k.log(), s.k.roots()}
}

// appendArgs are the script's ARGV for pages of cover; creation times left
// unset are now.
func appendArgs(cover eventstore.Cover, pages []eventstore.Page, now time.Time) []any {
	args := make([]any, 0, 6+2*len(pages))
	args = append(args, cover.Domain, cover.Root[:], rootMember(cover), len(pages))
	for _, p := range pages {
		num := ""
		if p.HasNum {
			num = formatUint(uint64(p.Num))
		}
		at := p.CreatedAt
		if at.IsZero() {
			at = now
		}
		args = append(args, num, encodeEvent(at, p.TypeURL, p.Payload, p.Cause, p.SchemaVersion))
	}
	return args
}

// stored checks the script's answer (ok: 1 stored, 0 a page did not fit;
// next: the cover's head it found) and returns the stored events, or the
// conflict that kept them out; now is the time appendArgs was given.
func (s *Store) stored(cover eventstore.Cover, pages []eventstore.Page, now time.Time, ok, next int64) ([]eventstore.Event, error) {
	// The rule itself is eventstore.Assign's; the script only checked that
	// it holds, so that nothing is written otherwise.
	events, err := eventstore.Assign(cover, uint32(next), pages, now)
	switch {
	case err != nil && ok == 0:
		return nil, err
	case err != nil || ok != 1:
		return nil, fmt.Errorf("redis: append to %s: the script and the sequence rule disagree at sequence %d (script said %d)", cover, next, ok)
	}
	return events, nil
}

// lossReply begins the error replies of appendBody that find a key of the
// store evicted or reset: eventstore.ErrDataLoss.
const lossReply = "EVENTEDLOSS"
