package redis

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

// planCheck refuses, before the append writes anything, a plan whose
// writes would fail midway: the deadlines hashes (the last two KEYS) and
// the slot sets must be of their types or missing. p is the index in ARGV
// of the plan's arguments: the slot sets' prefix, the number of
// cancellations c, c pairs (ID, slot), the number of schedules s, s
// quintuples (ID, slot, due in Unix µs, record, key).
const planCheck = `
local dh, dk = KEYS[#KEYS - 1], KEYS[#KEYS]
if not checked.deadlines then
	for _, key in ipairs({dh, dk}) do
		local t = redis.call('TYPE', key)['ok']
		if t ~= 'none' and t ~= 'hash' then
			return redis.error_reply('deadlines: ' .. key .. ' is a ' .. t .. ', not a hash')
		end
	end
	checked.deadlines = true
end
local nc = tonumber(ARGV[p + 1])
local ns = tonumber(ARGV[p + 2 + 2 * nc])
local slots = {}
for i = 1, nc do slots[#slots + 1] = ARGV[p + 1 + 2 * i] end
for i = 1, ns do slots[#slots + 1] = ARGV[p + 3 + 2 * nc + 5 * (i - 1) + 1] end
for _, slot in ipairs(slots) do
	local key = ARGV[p] .. slot
	if not checked[key] then
		local t = redis.call('TYPE', key)['ok']
		if t ~= 'none' and t ~= 'zset' then
			return redis.error_reply('deadlines: ' .. key .. ' is a ' .. t .. ', not a sorted set')
		end
		checked[key] = true
	end
end
`

// planWrites applies the plan checked by planCheck: as cancelScript, then
// as Schedule.
const planWrites = `
for i = 1, nc do
	local id, slot = ARGV[p + 2 * i], ARGV[p + 1 + 2 * i]
	redis.call('HDEL', dh, id)
	redis.call('HDEL', dk, id)
	redis.call('ZREM', ARGV[p] .. slot, id)
end
for i = 1, ns do
	local j = p + 3 + 2 * nc + 5 * (i - 1)
	redis.call('HSET', dh, ARGV[j], ARGV[j + 3])
	redis.call('HSET', dk, ARGV[j], ARGV[j + 4])
	redis.call('ZADD', ARGV[p] .. ARGV[j + 1], ARGV[j + 2], ARGV[j])
end
`

// schedulingScript is appendScript that applies a deadline plan after the
// events. KEYS: appendScript's, then the deadlines and deadline-keys
// hashes. ARGV: appendScript's, then the plan (see planCheck).
var schedulingScript = goredis.NewScript(scriptChecks + schedulingBody)

const schedulingBody = `
local p = 5 + 2 * tonumber(ARGV[4])
` + planCheck + appendBody + planWrites + `
return {1, next, first}`

// keyedSchedulingScript is keyedScript that applies a deadline plan after
// the events and the key. KEYS: keyedScript's, then the deadlines and
// deadline-keys hashes. ARGV: keyedScript's, then the plan.
var keyedSchedulingScript = goredis.NewScript(scriptChecks + keyedSchedulingBody)

const keyedSchedulingBody = keyCheck + `
local p = 7 + 2 * tonumber(ARGV[4])
` + planCheck + appendBody + keyWrites + planWrites + `
return {1, next, first}`

// planArgs are the plan's ARGV (see planCheck).
func (s *Store) planArgs(plan eventstore.DeadlinePlan, now time.Time) ([]any, error) {
	args := make([]any, 0, 3+2*len(plan.Cancel)+5*len(plan.Schedule))
	args = append(args, s.k.prefix+"deadlines:", len(plan.Cancel))
	for _, id := range plan.Cancel {
		args = append(args, id, eventstore.DeadlineSlot(id))
	}
	args = append(args, len(plan.Schedule))
	for _, d := range plan.Schedule {
		rec, err := json.Marshal(deadlineJSON{Due: d.Due.UnixNano(), Domain: d.Cover.Domain, Root: d.Cover.Root.String(),
			Command: d.Command, Key: d.Key, Created: now.UnixNano()})
		if err != nil {
			return nil, err
		}
		args = append(args, d.ID, eventstore.DeadlineSlot(d.ID), strconv.FormatInt(d.Due.UnixMicro(), 10), rec, d.Key)
	}
	return args, nil
}

// AppendScheduling implements eventstore.Deadlines with one script: the
// key's check (when keyed), the append, the key and the plan run
// atomically, every write's precondition checked before the first.
func (s *Store) AppendScheduling(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if err := plan.Check(); err != nil {
		return nil, nil, err
	}
	if plan.Empty() {
		if key != nil {
			return s.AppendKeyed(ctx, cover, pages, *key)
		}
		events, err := s.Append(ctx, cover, pages)
		return events, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed.Load() {
		return nil, nil, eventstore.ErrClosed
	}
	if len(pages) == 0 {
		return nil, nil, nil
	}
	r := s.write(ctx, eventstore.GroupAppend{Cover: cover, Pages: pages, Key: key, Plan: plan})
	return r.Events, r.Prior, r.Err
}

// appendSchedulingOne makes one append with a deadline plan with
// schedulingScript (keyedSchedulingScript when it has a key).
func (s *Store) appendSchedulingOne(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	now := time.Now()
	pargs, err := s.planArgs(plan, now)
	if err != nil {
		return nil, nil, err
	}
	script, keys, args := schedulingScript, s.appendKeys(cover), appendArgs(cover, pages, now)
	if key != nil {
		script = keyedSchedulingScript
		keys = append(keys, s.k.key(key.ID))
		args = append(args, key.Fingerprint[:], max(key.TTL.Milliseconds(), 1))
	}
	keys = append(keys, s.k.deadlines(), s.k.deadlineKeys())
	res, err := script.Run(ctx, s.w, keys, append(args, pargs...)...).Slice()
	if err != nil {
		return nil, nil, s.writeFailed(err, "append to %s", cover)
	}
	return s.keyedResult(cover, pages, key, now, res)
}
