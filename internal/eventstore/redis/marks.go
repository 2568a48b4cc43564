package redis

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Marks = (*Store)(nil)

// Marks on Redis: each call is one Lua script, run with nothing in between,
// timed by the server's TIME (microseconds), so replicas' clocks need not
// agree.
//
// A subscriber's marks are one hash, marks:<subscriber>, five fields per
// mark named "<root hex><domain>:" plus n (Next), c (claimer), i (claim id),
// f (claim from) and u (claim until, Unix µs; 0 when settled). The root's
// hex is always 32 characters and the suffix two, so a domain containing
// ':' cannot make two covers share a field. Missing fields read as a mark
// never claimed. Numbers are decimal strings, all below 2^53, exact in
// Lua's doubles.
//
// The scripts are safe to run twice (go-redis re-sends a command whose
// reply was lost): a repeated claim replaces the claimer's own claim, a
// repeated settle matches the same claim id and claimer (the claimer stays
// in the hash after a settle for that reason), and advance keeps the larger
// Next.

// markRowLua reads the mark of field prefix f of hash KEYS[1] at now: Next,
// the claimer ("" unless live), the claim id, from and until.
const markRowLua = `
local function mark_row(f, now)
	local row = redis.call('HMGET', KEYS[1], f .. 'n', f .. 'c', f .. 'i', f .. 'f', f .. 'u')
	local next, claimer, id = tonumber(row[1] or '0'), row[2] or '', tonumber(row[3] or '0')
	local from, untl = tonumber(row[4] or '0'), tonumber(row[5] or '0')
	local live = claimer ~= '' and now < untl
	return next, claimer, id, from, untl, live
end
local function reply(ok, next, claimer, id, from, untl, live)
	if not live then return {ok, fmt(next), '', fmt(id), '0', '0'} end
	return {ok, fmt(next), claimer, fmt(id), fmt(from), fmt(untl)}
end
`

// claimMarkScript: KEYS marks hash; ARGV field prefix, from, claimer, ttl
// in µs. Returns {ok, next, claimer, claim id, from, until}.
var claimMarkScript = goredis.NewScript(luaHelpers + markRowLua + `
local f, from, me = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_us()
local next, claimer, id, cfrom, untl, live = mark_row(f, now)
if next ~= from or (live and claimer ~= me) then
	return reply(0, next, claimer, id, cfrom, untl, live)
end
id, untl = id + 1, now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], f .. 'n', fmt(next), f .. 'c', me, f .. 'i', fmt(id), f .. 'f', fmt(from), f .. 'u', fmt(untl))
return reply(1, next, me, id, from, untl, true)`)

// settleMarkScript: KEYS marks hash; ARGV field prefix, claim id, claimer,
// new Next ("0" to keep it). Returns 0 when the claim is not the mark's.
var settleMarkScript = goredis.NewScript(luaHelpers + `
local f = ARGV[1]
local row = redis.call('HMGET', KEYS[1], f .. 'n', f .. 'c', f .. 'i')
if row[3] ~= ARGV[2] or row[2] ~= ARGV[3] then return 0 end
local next = math.max(tonumber(row[1] or '0'), tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], f .. 'n', fmt(next), f .. 'f', '0', f .. 'u', '0')
return 1`)

// advanceMarkScript: KEYS marks hash; ARGV field prefix, to.
var advanceMarkScript = goredis.NewScript(luaHelpers + `
local f = ARGV[1]
local next = redis.call('HGET', KEYS[1], f .. 'n')
if not next or tonumber(ARGV[2]) > tonumber(next) then
	redis.call('HSET', KEYS[1], f .. 'n', ARGV[2])
end
return 1`)

// readMarkScript: KEYS marks hash; ARGV field prefix. Returns {1, next,
// claimer, claim id, from, until} as claimMarkScript does.
var readMarkScript = goredis.NewScript(luaHelpers + markRowLua + `
return reply(1, mark_row(ARGV[1], now_us()))`)

// markField is the field prefix of cover's mark in its subscriber's hash.
func markField(c eventstore.Cover) string { return hex.EncodeToString(c.Root[:]) + c.Domain + ":" }

// parseMark reads a script's {ok, next, claimer, claim id, from, until}.
func parseMark(res []any) (eventstore.Mark, bool, error) {
	if len(res) != 6 {
		return eventstore.Mark{}, false, fmt.Errorf("script returned %v", res)
	}
	ok, _ := res[0].(int64)
	var s [5]string
	for i := range s {
		s[i], _ = res[i+1].(string)
	}
	next, err1 := strconv.ParseUint(s[0], 10, 32)
	id, err2 := strconv.ParseUint(s[2], 10, 64)
	from, err3 := strconv.ParseUint(s[3], 10, 32)
	until, err4 := strconv.ParseInt(s[4], 10, 64)
	if err := cmp.Or(err1, err2, err3, err4); err != nil {
		return eventstore.Mark{}, false, fmt.Errorf("malformed mark: %w", err)
	}
	m := eventstore.Mark{Next: uint32(next), Claimer: s[1], ClaimID: id}
	if m.Claimer != "" {
		m.From, m.Until = uint32(from), time.UnixMicro(until).UTC()
	}
	return m, ok == 1, nil
}

// ClaimMark implements eventstore.Marks.
func (s *Store) ClaimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	if err := eventstore.CheckClaim(subscriber, cover, claimer, ttl); err != nil {
		return eventstore.Mark{}, false, err
	}
	if s.closed.Load() {
		return eventstore.Mark{}, false, eventstore.ErrClosed
	}
	res, err := claimMarkScript.Run(ctx, s.c, []string{s.k.marks(subscriber)},
		markField(cover), strconv.FormatUint(uint64(from), 10), claimer, ttl.Microseconds()).Slice()
	var m eventstore.Mark
	var ok bool
	if err == nil {
		m, ok, err = parseMark(res)
	}
	if err != nil {
		return eventstore.Mark{}, false, s.fail(err, "claim mark of %s for %s", cover, subscriber)
	}
	return m, ok, nil
}

// SettleMark implements eventstore.Marks.
func (s *Store) SettleMark(ctx context.Context, subscriber string, cover eventstore.Cover, m eventstore.Mark, to uint32) error {
	if err := eventstore.CheckSettle(subscriber, cover, m); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	next := eventstore.SettledNext(m, to) // max(next, 0) keeps next
	ok, err := settleMarkScript.Run(ctx, s.c, []string{s.k.marks(subscriber)},
		markField(cover), strconv.FormatUint(m.ClaimID, 10), m.Claimer, strconv.FormatUint(uint64(next), 10)).Int64()
	if err != nil {
		return s.fail(err, "settle mark of %s for %s", cover, subscriber)
	}
	if ok != 1 {
		return eventstore.ErrClaimLost
	}
	return nil
}

// AdvanceMark implements eventstore.Marks.
func (s *Store) AdvanceMark(ctx context.Context, subscriber string, cover eventstore.Cover, to uint32) error {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	err := advanceMarkScript.Run(ctx, s.c, []string{s.k.marks(subscriber)},
		markField(cover), strconv.FormatUint(uint64(to), 10)).Err()
	if err != nil {
		return s.fail(err, "advance mark of %s for %s", cover, subscriber)
	}
	return nil
}

// ReadMark implements eventstore.Marks.
func (s *Store) ReadMark(ctx context.Context, subscriber string, cover eventstore.Cover) (eventstore.Mark, error) {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return eventstore.Mark{}, err
	}
	if s.closed.Load() {
		return eventstore.Mark{}, eventstore.ErrClosed
	}
	res, err := readMarkScript.Run(ctx, s.c, []string{s.k.marks(subscriber)}, markField(cover)).Slice()
	var m eventstore.Mark
	if err == nil {
		m, _, err = parseMark(res)
	}
	if err != nil {
		return eventstore.Mark{}, s.fail(err, "read mark of %s for %s", cover, subscriber)
	}
	return m, nil
}
