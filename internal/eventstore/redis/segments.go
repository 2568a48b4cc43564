package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Segments = (*Store)(nil)

// Segments on Redis: every operation that reads and then writes is one Lua
// script, which Redis runs with nothing in between, and every time is the
// server's (TIME, in microseconds), so replicas' clocks need not agree.
//
// A subscriber's lease rows are one hash, segments:<subscriber>, four
// fields per row named "<of>:<segment>:" plus o (owner), t (token), p
// (position) and e (expiry, Unix microseconds). Tokens and positions are
// decimal strings; positions are compared by length, then bytes, so a
// uint64 is never rounded through Lua's doubles.
//
// go-redis re-sends a command whose reply was lost (MaxRetries). Each
// script is safe to run twice: Acquire by the same owner keeps its own
// unexpired lease and token, Renew and Release set the same expiry again,
// Advance keeps the larger position, ParkFenced stores the same hash value
// (with behind, the earlier parked event it found is still there, or the
// repeat stores nothing, as a first run at that moment would), and Join
// and Leave are plain sets. So the client's retries are left on.

// luaHelpers are shared by the scripts: the server's clock, exact decimal
// comparison, and the field names of a lease row.
const luaHelpers = `
local function now_us()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function dec_less(a, b)
	if #a ~= #b then return #a < #b end
	return a < b
end
local function fmt(n) return string.format('%d', n) end
`

// acquireScript: KEYS segments hash; ARGV row ("<of>:<segment>:"), owner,
// ttl in µs, start. Returns {ok, owner, token, position, expiry}.
var acquireScript = goredis.NewScript(luaHelpers + `
local f, me = ARGV[1], ARGV[2]
local now = now_us()
local row = redis.call('HMGET', KEYS[1], f .. 'o', f .. 't', f .. 'p', f .. 'e')
local owner, token, pos = row[1], 1, ARGV[4]
if owner then
	token, pos = tonumber(row[2]), row[3]
	local exp = tonumber(row[4])
	if exp <= now then
		token = token + 1
	elseif owner ~= me then
		return {0, owner, fmt(token), pos, fmt(exp)}
	end
end
local exp = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], f .. 'o', me, f .. 't', fmt(token), f .. 'p', pos, f .. 'e', fmt(exp))
return {1, me, fmt(token), pos, fmt(exp)}`)

// renewScript: KEYS segments hash; ARGV row, token, ttl in µs. Returns
// false when the token is not the row's, else {owner, position, expiry}.
var renewScript = goredis.NewScript(luaHelpers + `
local f = ARGV[1]
if redis.call('HGET', KEYS[1], f .. 't') ~= ARGV[2] then return false end
local exp = now_us() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], f .. 'e', fmt(exp))
local row = redis.call('HMGET', KEYS[1], f .. 'o', f .. 'p')
return {row[1], row[2], fmt(exp)}`)

// releaseScript: KEYS segments hash; ARGV row, token. Ends the lease now
// if the token is the row's and it has not expired.
var releaseScript = goredis.NewScript(luaHelpers + `
local f = ARGV[1]
if redis.call('HGET', KEYS[1], f .. 't') ~= ARGV[2] then return 0 end
local now = now_us()
if tonumber(redis.call('HGET', KEYS[1], f .. 'e')) > now then
	redis.call('HSET', KEYS[1], f .. 'e', fmt(now))
end
return 1`)

// advanceScript: KEYS segments hash; ARGV row, token, position. Returns 0
// when the token is not the row's.
var advanceScript = goredis.NewScript(luaHelpers + `
local f = ARGV[1]
if redis.call('HGET', KEYS[1], f .. 't') ~= ARGV[2] then return 0 end
if dec_less(redis.call('HGET', KEYS[1], f .. 'p'), ARGV[3]) then
	redis.call('HSET', KEYS[1], f .. 'p', ARGV[3])
end
return 1`)

// resetScript: KEYS segments hash; ARGV position. Every row gets a new
// token and the position; returns how many rows there are. Run twice (a
// retry), tokens grow twice: still new ones.
var resetScript = goredis.NewScript(luaHelpers + `
local h = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #h, 2 do
	local f = h[i]
	if string.sub(f, -1) == 't' then
		local row = string.sub(f, 1, -2)
		redis.call('HSET', KEYS[1], f, fmt(tonumber(h[i + 1]) + 1), row .. 'p', ARGV[1])
		n = n + 1
	end
end
return n`)

// parkScript: KEYS segments hash, the subscriber's parked hash; ARGV row,
// token, position, cover (domain bytes then the 16 root bytes), behind
// ("1" or "0"), the encoded parked event. Returns -1 when the token is not
// the row's, 0 when behind found no earlier parked event of the cover, 1
// when stored. The cover of a parked event is read from its encoding
// (encodeParked): reason, attempts, 16 bytes of time and position, then
// the domain with its length and the root.
var parkScript = goredis.NewScript(luaHelpers + `
local function uvarint(s, i)
	local n, mul = 0, 1
	while true do
		local c = string.byte(s, i)
		i = i + 1
		n = n + (c % 128) * mul
		if c < 128 then return n, i end
		mul = mul * 128
	end
end
local function cover_of(v)
	local n, i = uvarint(v, 1)
	local _
	_, i = uvarint(v, i + n)
	n, i = uvarint(v, i + 16)
	return string.sub(v, i, i + n + 15)
end
if redis.call('HGET', KEYS[1], ARGV[1] .. 't') ~= ARGV[2] then return -1 end
if ARGV[5] == '1' then
	local found = false
	local all = redis.call('HGETALL', KEYS[2])
	for j = 1, #all, 2 do
		if dec_less(all[j], ARGV[3]) and cover_of(all[j + 1]) == ARGV[4] then
			found = true
			break
		end
	end
	if not found then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[6])
return 1`)

// joinScript: KEYS members sorted set; ARGV id, ttl in µs. Drops members
// whose time ran out, then sets id's.
var joinScript = goredis.NewScript(luaHelpers + `
local now = now_us()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1`)

// membersScript: KEYS members sorted set. The live members with their
// expiries.
var membersScript = goredis.NewScript(luaHelpers + `
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now_us()), '+inf', 'WITHSCORES')`)

func rowField(segment, of int) string { return fmt.Sprintf("%d:%d:", of, segment) }

func formatToken(t uint64) string { return strconv.FormatUint(t, 10) }

// Acquire implements eventstore.Segments.
func (s *Store) Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	if err := eventstore.CheckAcquire(subscriber, segment, of, owner, ttl); err != nil {
		return eventstore.Lease{}, false, err
	}
	if s.closed.Load() {
		return eventstore.Lease{}, false, eventstore.ErrClosed
	}
	res, err := acquireScript.Run(ctx, s.c, []string{s.k.segments(subscriber)},
		rowField(segment, of), owner, ttl.Microseconds(), formatUint(start)).Slice()
	if err != nil {
		return eventstore.Lease{}, false, s.fail(err, "acquire segment %d/%d of %s", segment, of, subscriber)
	}
	l := eventstore.Lease{Subscriber: subscriber, Segment: segment, Of: of}
	var ok int64
	if len(res) == 5 {
		ok, _ = res[0].(int64)
		l.Owner, _ = res[1].(string)
		err = parseRow(&l, res[2], res[3], res[4])
	} else {
		err = fmt.Errorf("script returned %v", res)
	}
	if err != nil {
		return eventstore.Lease{}, false, s.fail(err, "acquire segment %d/%d of %s", segment, of, subscriber)
	}
	return l, ok == 1, nil
}

// parseRow sets l's token, position and expiry from a script's strings.
func parseRow(l *eventstore.Lease, token, position, expires any) error {
	t, _ := token.(string)
	p, _ := position.(string)
	e, _ := expires.(string)
	var err1, err2, err3 error
	var us int64
	l.Token, err1 = strconv.ParseUint(t, 10, 64)
	l.Position, err2 = strconv.ParseUint(p, 10, 64)
	us, err3 = strconv.ParseInt(e, 10, 64)
	l.Expires = time.UnixMicro(us).UTC()
	if err := cmp.Or(err1, err2, err3); err != nil {
		return fmt.Errorf("malformed lease row: %w", err)
	}
	return nil
}

// Renew implements eventstore.Segments.
func (s *Store) Renew(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if ttl <= 0 {
		return eventstore.Lease{}, eventstore.Invalid("ttl", "must be positive, got %v", ttl)
	}
	if s.closed.Load() {
		return eventstore.Lease{}, eventstore.ErrClosed
	}
	res, err := renewScript.Run(ctx, s.c, []string{s.k.segments(l.Subscriber)},
		rowField(l.Segment, l.Of), formatToken(l.Token), ttl.Microseconds()).Slice()
	if errors.Is(err, goredis.Nil) {
		return eventstore.Lease{}, eventstore.ErrLeaseLost
	}
	n := eventstore.Lease{Subscriber: l.Subscriber, Segment: l.Segment, Of: l.Of}
	if err == nil {
		if len(res) == 3 {
			n.Owner, _ = res[0].(string)
			err = parseRow(&n, formatToken(l.Token), res[1], res[2])
		} else {
			err = fmt.Errorf("script returned %v", res)
		}
	}
	if err != nil {
		return eventstore.Lease{}, s.fail(err, "renew segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	return n, nil
}

// Release implements eventstore.Segments: the row expires now, keeping its
// owner, token and position for the next Acquire.
func (s *Store) Release(ctx context.Context, l eventstore.Lease) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	err := releaseScript.Run(ctx, s.c, []string{s.k.segments(l.Subscriber)},
		rowField(l.Segment, l.Of), formatToken(l.Token)).Err()
	if err != nil {
		return s.fail(err, "release segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	return nil
}

// Reset implements eventstore.Segments.
func (s *Store) Reset(ctx context.Context, subscriber string, position uint64) (int, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	n, err := resetScript.Run(ctx, s.c, []string{s.k.segments(subscriber)}, formatUint(position)).Int()
	if err != nil {
		return 0, s.fail(err, "reset segments of %s", subscriber)
	}
	return n, nil
}

// Advance implements eventstore.Segments.
func (s *Store) Advance(ctx context.Context, l eventstore.Lease, position uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	ok, err := advanceScript.Run(ctx, s.c, []string{s.k.segments(l.Subscriber)},
		rowField(l.Segment, l.Of), formatToken(l.Token), formatUint(position)).Int64()
	if err != nil {
		return s.fail(err, "advance segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	if ok != 1 {
		return eventstore.ErrLeaseLost
	}
	return nil
}

// ParkFenced implements eventstore.Segments.
func (s *Store) ParkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, behind bool) (bool, error) {
	if s.closed.Load() {
		return false, eventstore.ErrClosed
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	flag := "0"
	if behind {
		flag = "1"
	}
	res, err := parkScript.Run(ctx, s.c, []string{s.k.segments(l.Subscriber), s.k.parked(l.Subscriber)},
		rowField(l.Segment, l.Of), formatToken(l.Token), formatUint(p.Position),
		p.Cover.Domain+string(p.Cover.Root[:]), flag, encodeParked(p)).Int64()
	if err != nil {
		return false, s.fail(err, "park %s/%d for %s", p.Cover, p.Sequence, l.Subscriber)
	}
	if res < 0 {
		return false, eventstore.ErrLeaseLost
	}
	return res == 1, nil
}

// Leases implements eventstore.Segments: the subscriber's hash, read at
// once.
func (s *Store) Leases(ctx context.Context, subscriber string) ([]eventstore.Lease, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	h, err := s.c.HGetAll(ctx, s.k.segments(subscriber)).Result()
	if err != nil {
		return nil, s.fail(err, "leases of %s", subscriber)
	}
	rows := map[[2]int]map[string]string{}
	for field, v := range h {
		of, rest, ok1 := strings.Cut(field, ":")
		seg, attr, ok2 := strings.Cut(rest, ":")
		o, err1 := strconv.Atoi(of)
		g, err2 := strconv.Atoi(seg)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, s.fail(fmt.Errorf("malformed field %q", field), "leases of %s", subscriber)
		}
		k := [2]int{o, g}
		if rows[k] == nil {
			rows[k] = map[string]string{}
		}
		rows[k][attr] = v
	}
	out := make([]eventstore.Lease, 0, len(rows))
	for k, r := range rows {
		l := eventstore.Lease{Subscriber: subscriber, Of: k[0], Segment: k[1], Owner: r["o"]}
		if err := parseRow(&l, r["t"], r["p"], r["e"]); err != nil {
			return nil, s.fail(err, "leases of %s: segment %d/%d", subscriber, k[1], k[0])
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b eventstore.Lease) int {
		return cmp.Or(cmp.Compare(a.Of, b.Of), cmp.Compare(a.Segment, b.Segment))
	})
	return out, nil
}

// Join implements eventstore.Segments. It also drops members whose time
// ran out, so replicas that died without Leave do not pile up.
func (s *Store) Join(ctx context.Context, owner string, ttl time.Duration) error {
	if err := eventstore.CheckJoin(owner, ttl); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := joinScript.Run(ctx, s.c, []string{s.k.members()}, owner, ttl.Microseconds()).Err(); err != nil {
		return s.fail(err, "join %s", owner)
	}
	return nil
}

// Leave implements eventstore.Segments.
func (s *Store) Leave(ctx context.Context, owner string) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := s.c.ZRem(ctx, s.k.members(), owner).Err(); err != nil {
		return s.fail(err, "leave %s", owner)
	}
	return nil
}

// Members implements eventstore.Segments.
func (s *Store) Members(ctx context.Context) ([]eventstore.Member, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	res, err := membersScript.Run(ctx, s.c, []string{s.k.members()}).StringSlice()
	if err != nil {
		return nil, s.fail(err, "members")
	}
	if len(res)%2 != 0 {
		return nil, s.fail(fmt.Errorf("script returned %d values", len(res)), "members")
	}
	out := make([]eventstore.Member, 0, len(res)/2)
	for i := 0; i < len(res); i += 2 {
		us, err := strconv.ParseFloat(res[i+1], 64) // a score: below 2^53, exact
		if err != nil {
			return nil, s.fail(err, "members: %s", res[i])
		}
		out = append(out, eventstore.Member{ID: res[i], Expires: time.UnixMicro(int64(us)).UTC()})
	}
	slices.SortFunc(out, func(a, b eventstore.Member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
