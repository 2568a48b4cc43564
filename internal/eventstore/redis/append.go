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
// the first write.
var appendScript = goredis.NewScript(`
local next = redis.call('LLEN', KEYS[1])
local n = tonumber(ARGV[4])
for i = 1, n do
	local num = ARGV[3 + 2 * i]
	if num ~= '' and tonumber(num) ~= next + i - 1 then
		return {0, next}
	end
end
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 1, n do
	redis.call('RPUSH', KEYS[1], ARGV[4 + 2 * i])
	redis.call('XADD', KEYS[3], string.format('%d-0', first + i - 1),
		'd', ARGV[1], 'r', ARGV[2], 's', string.format('%d', next + i - 1))
end
redis.call('ZADD', KEYS[4], 0, ARGV[3])
return {1, next, first}`)

// Append implements eventstore.Store.
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
	now := time.Now()
	args := make([]any, 0, 4+2*len(pages))
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
		args = append(args, num, encodeEvent(at, p.TypeURL, p.Payload, p.Cause))
	}
	res, err := appendScript.Run(ctx, s.c, []string{s.k.events(cover), s.k.position(), s.k.log(), s.k.roots()}, args...).Int64Slice()
	if err != nil {
		return nil, s.fail(err, "append to %s", cover)
	}
	if len(res) < 2 {
		return nil, fmt.Errorf("redis: append to %s: script returned %v", cover, res)
	}
	// The rule itself is eventstore.Assign's; the script only checked that
	// it holds, so that nothing is written otherwise.
	events, err := eventstore.Assign(cover, uint32(res[1]), pages, now)
	switch {
	case err != nil && res[0] == 0:
		return nil, err
	case err != nil || res[0] != 1:
		return nil, fmt.Errorf("redis: append to %s: the script and the sequence rule disagree at sequence %d (script said %d)", cover, res[1], res[0])
	}
	s.signal()
	s.committed()
	return events, nil
}
