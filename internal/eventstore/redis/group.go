package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

var (
	_ eventstore.GroupAppender = (*Store)(nil)
	_ eventstore.BookLoader    = (*Store)(nil)
)

// groupScript makes the appends of a group one after the other, each as
// schedulingScript (keyedSchedulingScript when it has a key) would, and
// removes the fired deadlines of those that stand: one round trip and one
// script for the group instead of one per append, plus one for the
// removals. The removals come after all the appends, a few commands for
// all of them (HMGET, HDEL, HDEL, a ZREM per slot), in the same script: a
// deadline is still removed exactly when its append stands, and a later
// append's plan that rescheduled it keeps the new one, as firedScript
// would.
//
// The appends' own scripts are functions here, their KEYS and ARGV
// parameters: each append is checked on its own (its sequences, its key,
// its plan) and writes nothing when a check fails. A failure that Redis
// raises (a key of the wrong type, a write refused at maxmemory) is caught
// (pcall) and answers that append alone: it comes before the append's
// first write, as in its own script, so the other appends stand. The
// fired deadline's hashes and slot set are checked before the append for
// the same reason.
//
// The checks of the store's shared keys, which a script of one append
// makes each time, are made once for the group (see scriptChecks).
//
// KEYS: the position counter, the log stream, the roots set, the
// deadlines and deadline-keys hashes, then for each append its events
// list and, when keyed, its key. ARGV: the slot sets' prefix, then for
// each append: keyed (1) or not (0), the number of its own arguments, the
// fired deadline's ID ("" for none), key and slot, then its own arguments
// (schedulingScript's or keyedSchedulingScript's ARGV).
//
// It returns, for each append, {removed, reply}: removed is 1 when the
// append's fired deadline was removed (unless rescheduled since, as
// firedScript removes it), which is when its events were stored or its
// key was found stored with the same fingerprint; reply is its script's
// reply, or {3, message} for an error.
var groupScript = goredis.NewScript(groupSource)

const groupSource = scriptChecks + `
local function plain(KEYS, ARGV)
` + schedulingBody + `
end
local function keyed(KEYS, ARGV)
` + keyedSchedulingBody + `
end
local function typed(key, want)
	if checked[key] then
		return nil
	end
	local t = redis.call('TYPE', key)['ok']
	if t ~= 'none' and t ~= want then
		return 'deadlines: ' .. key .. ' is a ' .. t .. ', not a ' .. want
	end
	checked[key] = true
end
local dh, dk, slots = KEYS[4], KEYS[5], ARGV[1]
local out, fired = {}, {}
local k, a = 6, 2
while a <= #ARGV do
	local isKeyed, argc, fid, fkey, fslot = ARGV[a] == '1', tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
	local K = {KEYS[k], KEYS[1], KEYS[2], KEYS[3]}
	k = k + 1
	if isKeyed then
		K[5] = KEYS[k]
		k = k + 1
	end
	K[#K + 1] = dh
	K[#K + 1] = dk
	local A = {}
	for j = 1, argc do
		A[j] = ARGV[a + 4 + j]
	end
	a = a + 5 + argc
	local bad
	if fid ~= '' then
		if not checked.deadlines then
			bad = typed(dh, 'hash') or typed(dk, 'hash')
			checked.deadlines = not bad
		end
		bad = bad or typed(slots .. fslot, 'zset')
	end
	local ok, r
	if bad then
		ok, r = true, {err = bad}
	elseif isKeyed then
		ok, r = pcall(keyed, K, A)
	else
		ok, r = pcall(plain, K, A)
	end
	if not ok then
		r = {err = type(r) == 'table' and r.err or tostring(r)}
	end
	local removed = 0
	if r.err then
		r = {3, r.err}
	elseif fid ~= '' and (r[1] == 1 or (isKeyed and r[1] == 2 and r[2] == A[5 + 2 * tonumber(A[4])])) then
		fired[#fired + 1] = {fid, fkey, fslot}
		removed = 1
	end
	out[#out + 1] = {removed, r}
end
if #fired > 0 then
	local ids = {}
	for i, f in ipairs(fired) do
		ids[i] = f[1]
	end
	local stored = redis.call('HMGET', dk, unpack(ids))
	local gone, bySlot = {}, {}
	for i, f in ipairs(fired) do
		if stored[i] == f[2] then
			gone[#gone + 1] = f[1]
			bySlot[f[3]] = bySlot[f[3]] or {}
			table.insert(bySlot[f[3]], f[1])
		end
	end
	if #gone > 0 then
		redis.call('HDEL', dh, unpack(gone))
		redis.call('HDEL', dk, unpack(gone))
		for slot, members in pairs(bySlot) do
			redis.call('ZREM', slots .. slot, unpack(members))
		end
	end
end
return out`

// groupMax bounds the appends of one groupScript call, so that Redis,
// which runs nothing else during a script, is not held for long.
const groupMax = 128

// AppendGroup implements eventstore.GroupAppender with groupScript: the
// appends of up to groupMax at a time in one script and one round trip,
// each checked on its own and each fired deadline removed in its append's
// script. A failure of the call (the connection lost after it was sent)
// leaves every append of it in doubt.
func (s *Store) AppendGroup(ctx context.Context, as []eventstore.GroupAppend) []eventstore.GroupResult {
	out := make([]eventstore.GroupResult, len(as))
	var idx []int
	for i, a := range as {
		switch err := a.Plan.Check(); {
		case err != nil:
			out[i].Err = err
		case len(a.Pages) > 0:
			idx = append(idx, i)
		}
	}
	stored := false
	for len(idx) > 0 {
		n := min(len(idx), groupMax)
		if s.appendGroup(ctx, as, idx[:n], out) {
			stored = true
		}
		idx = idx[n:]
	}
	if stored {
		s.signal()
		s.committed()
	}
	return out
}

// appendGroup makes the appends idx of as in one groupScript call, fills
// their results in out and reports whether any stored events.
func (s *Store) appendGroup(ctx context.Context, as []eventstore.GroupAppend, idx []int, out []eventstore.GroupResult) bool {
	failAll := func(err error) bool {
		for _, i := range idx {
			out[i].Err = err
		}
		return false
	}
	if err := ctx.Err(); err != nil {
		return failAll(err)
	}
	if s.closed.Load() {
		return failAll(eventstore.ErrClosed)
	}
	now := time.Now()
	keys := []string{s.k.position(), s.k.log(), s.k.roots(), s.k.deadlines(), s.k.deadlineKeys()}
	args := []any{s.k.prefix + "deadlines:"}
	sent := idx[:0:0]
	for _, i := range idx {
		a := as[i]
		pargs, err := s.planArgs(a.Plan, now)
		if err != nil {
			out[i].Err = err
			continue
		}
		own := appendArgs(a.Cover, a.Pages, now)
		keys = append(keys, s.k.events(a.Cover))
		keyed := 0
		if a.Key != nil {
			keyed = 1
			keys = append(keys, s.k.key(a.Key.ID))
			own = append(own, a.Key.Fingerprint[:], max(a.Key.TTL.Milliseconds(), 1))
		}
		own = append(own, pargs...)
		fid, fkey, fslot := "", "", 0
		if a.Fired != nil {
			fid, fkey, fslot = a.Fired.ID, a.Fired.Key, eventstore.DeadlineSlot(a.Fired.ID)
		}
		args = append(args, keyed, len(own), fid, fkey, fslot)
		args = append(args, own...)
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return false
	}
	res, err := groupScript.Run(ctx, s.w, keys, args...).Slice()
	if err == nil && len(res) != len(sent) {
		err = fmt.Errorf("%d replies for %d appends", len(res), len(sent))
	}
	if err != nil {
		idx = sent
		return failAll(s.writeFailed(err, "append a group of %d", len(sent)))
	}
	stored := false
	for j, i := range sent {
		a, r := as[i], &out[i]
		pair, _ := res[j].([]any)
		removed, _ := intAt(pair, 0)
		var reply []any
		if len(pair) == 2 {
			reply, _ = pair[1].([]any)
		}
		if code, _ := intAt(reply, 0); code == 3 && len(reply) == 2 {
			msg, _ := reply[1].(string)
			r.Err = s.fail(replyError(msg), "append to %s", a.Cover)
			continue
		}
		r.Events, r.Prior, r.Err = s.scriptResult(a.Cover, a.Pages, a.Key, now, reply)
		r.Removed = removed == 1 && a.Fires(*r)
		stored = stored || len(r.Events) > 0
	}
	return stored
}

// replyError is an error reply of Redis caught inside a script (groupScript
// answers it per append), so that fail classifies it as it does Redis's
// own.
type replyError string

func (e replyError) Error() string { return string(e) }

// RedisError marks e as Redis's answer (goredis.Error).
func (replyError) RedisError() {}

// loadBooksScript reads, for each cover, its snapshot's fields s, t, v,
// c (HMGET) and its events from the snapshot's sequence on (from 0 when it
// has none). KEYS: each cover's snapshot hash and events list. It returns
// the two replies of each cover, one after the other.
var loadBooksScript = goredis.NewScript(`
local out = {}
for i = 1, #KEYS, 2 do
	local snap = redis.call('HMGET', KEYS[i], 's', 't', 'v', 'c')
	local from = 0
	if snap[1] then
		from = tonumber(snap[1])
		if not from then
			return redis.error_reply('the snapshot ' .. KEYS[i] .. ' has sequence ' .. string.format('%q', snap[1]))
		end
	end
	out[#out + 1] = snap
	out[#out + 1] = redis.call('LRANGE', KEYS[i + 1], from, -1)
end
return out`)

// loadMax bounds the covers of one loadBooksScript call.
const loadMax = 128

// LoadBooks implements eventstore.BookLoader: one script call (one round
// trip) per loadMax covers reads each one's snapshot and the events after
// it, together, as Load does with two calls.
func (s *Store) LoadBooks(ctx context.Context, covers []eventstore.Cover) ([]eventstore.Book, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	out := make([]eventstore.Book, 0, len(covers))
	for len(covers) > 0 {
		n := min(len(covers), loadMax)
		keys := make([]string, 0, 2*n)
		for _, c := range covers[:n] {
			keys = append(keys, s.k.snapshot(c), s.k.events(c))
		}
		res, err := loadBooksScript.Run(ctx, s.c, keys).Slice()
		if err == nil && len(res) != 2*n {
			err = fmt.Errorf("%d replies for %d covers", len(res), n)
		}
		if err != nil {
			return nil, s.fail(err, "load %d aggregates", n)
		}
		for j, c := range covers[:n] {
			b, err := readBook(c, res[2*j], res[2*j+1])
			if err != nil {
				return nil, s.fail(err, "load %s", c)
			}
			out = append(out, b)
		}
		covers = covers[n:]
	}
	return out, nil
}

// readBook makes cover's book of loadBooksScript's replies: the snapshot's
// fields (all nil when it has none) and the events from its sequence on.
func readBook(cover eventstore.Cover, snapReply, eventsReply any) (eventstore.Book, error) {
	b := eventstore.Book{Cover: cover}
	fields, ok1 := snapReply.([]any)
	items, ok2 := eventsReply.([]any)
	if !ok1 || !ok2 || len(fields) != 4 {
		return b, fmt.Errorf("script returned %T and %T", snapReply, eventsReply)
	}
	var from uint32
	if fields[0] != nil || fields[1] != nil || fields[2] != nil || fields[3] != nil {
		seqStr, _ := fields[0].(string)
		atStr, _ := fields[3].(string)
		typeURL, _ := fields[1].(string)
		state, _ := fields[2].(string)
		seq, err1 := strconv.ParseUint(seqStr, 10, 32)
		at, err2 := strconv.ParseInt(atStr, 10, 64)
		if err1 != nil || err2 != nil {
			return b, fmt.Errorf("snapshot: sequence %q, created %q", seqStr, atStr)
		}
		b.Snapshot = &eventstore.Snapshot{Sequence: uint32(seq), TypeURL: typeURL, State: []byte(state), CreatedAt: time.Unix(0, at).UTC()}
		from = uint32(seq)
	}
	if len(items) == 0 {
		return b, nil
	}
	b.Events = make([]eventstore.Event, len(items))
	for i, item := range items {
		str, ok := item.(string)
		if !ok {
			return b, fmt.Errorf("event %d: %T", from+uint32(i), item)
		}
		ev, err := decodeEvent(from+uint32(i), str)
		if err != nil {
			return b, fmt.Errorf("event %d: %w", from+uint32(i), err)
		}
		b.Events[i] = ev
	}
	return b, nil
}
