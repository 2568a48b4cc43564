package redis

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Deadlines = (*Store)(nil)

// Deadlines on Redis: each pending deadline is a field of the deadlines
// hash (JSON), its key a field of deadline-keys, and its ID a member of
// its slot's sorted set scored by due in Unix µs. Schedule is one
// MULTI/EXEC; Cancel and Fired are Lua scripts. Every call is safe to
// repeat, so go-redis's retries are left on. PendingDeadlines reads the
// whole hash: it is for operators (the CLI), not for a hot path.

type deadlineJSON struct {
	Due     int64  `json:"d"` // Unix ns
	Domain  string `json:"m"`
	Root    string `json:"r"`
	Command []byte `json:"c"`
	Key     string `json:"k"`
	Created int64  `json:"t"` // Unix ns
}

// cancelScript: KEYS deadlines, deadline-keys; ARGV prefix of the slot
// sets, then pairs of ID and slot. Returns how many were pending.
var cancelScript = goredis.NewScript(`
local n = 0
for i = 2, #ARGV, 2 do
	n = n + redis.call('HDEL', KEYS[1], ARGV[i])
	redis.call('HDEL', KEYS[2], ARGV[i])
	redis.call('ZREM', ARGV[1] .. ARGV[i+1], ARGV[i])
end
return n`)

// firedScript: KEYS deadlines, deadline-keys; ARGV prefix of the slot
// sets, then triples of ID, key and slot.
var firedScript = goredis.NewScript(`
for i = 2, #ARGV, 3 do
	if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i+1] then
		redis.call('HDEL', KEYS[1], ARGV[i])
		redis.call('HDEL', KEYS[2], ARGV[i])
		redis.call('ZREM', ARGV[1] .. ARGV[i+2], ARGV[i])
	end
end
return 0`)

// Schedule implements eventstore.Deadlines.
func (s *Store) Schedule(ctx context.Context, ds []eventstore.Deadline) error {
	for _, d := range ds {
		if err := eventstore.CheckDeadline(d); err != nil {
			return err
		}
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, d := range ds {
			rec, err := json.Marshal(deadlineJSON{Due: d.Due.UnixNano(), Domain: d.Cover.Domain, Root: d.Cover.Root.String(),
				Command: d.Command, Key: d.Key, Created: now})
			if err != nil {
				return err
			}
			p.HSet(ctx, s.k.deadlines(), d.ID, rec)
			p.HSet(ctx, s.k.deadlineKeys(), d.ID, d.Key)
			p.ZAdd(ctx, s.k.deadlineSlot(eventstore.DeadlineSlot(d.ID)), goredis.Z{Score: float64(d.Due.UnixMicro()), Member: d.ID})
		}
		return nil
	})
	if err != nil {
		return s.fail(err, "schedule %d deadlines", len(ds))
	}
	return nil
}

// Cancel implements eventstore.Deadlines.
func (s *Store) Cancel(ctx context.Context, ids []string) (int, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{s.k.prefix + "deadlines:"}
	for _, id := range ids {
		args = append(args, id, eventstore.DeadlineSlot(id))
	}
	n, err := cancelScript.Run(ctx, s.c, []string{s.k.deadlines(), s.k.deadlineKeys()}, args...).Int()
	if err != nil {
		return 0, s.fail(err, "cancel %d deadlines", len(ids))
	}
	return n, nil
}

// Fired implements eventstore.Deadlines.
func (s *Store) Fired(ctx context.Context, ds []eventstore.Deadline) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	args := []any{s.k.prefix + "deadlines:"}
	for _, d := range ds {
		args = append(args, d.ID, d.Key, eventstore.DeadlineSlot(d.ID))
	}
	if err := firedScript.Run(ctx, s.c, []string{s.k.deadlines(), s.k.deadlineKeys()}, args...).Err(); err != nil {
		return s.fail(err, "remove %d fired deadlines", len(ds))
	}
	return nil
}

// DueDeadlines implements eventstore.Deadlines.
func (s *Store) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	if err := eventstore.CheckDue(segment, of, limit); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	slots := eventstore.DeadlineSlotsOf(segment, of)
	p := s.c.Pipeline()
	cmds := make([]*goredis.StringSliceCmd, len(slots))
	for i, sl := range slots {
		cmds[i] = p.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.k.deadlineSlot(sl), Start: "-inf",
			Stop: strconv.FormatInt(before.UnixMicro(), 10), ByScore: true, Count: int64(limit)})
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, s.fail(err, "read due deadlines of segment %d/%d", segment, of)
	}
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.Val()...)
	}
	ds, err := s.readDeadlines(ctx, ids)
	if err != nil {
		return nil, s.fail(err, "read due deadlines of segment %d/%d", segment, of)
	}
	ds = slices.DeleteFunc(ds, func(d eventstore.Deadline) bool { return d.Due.After(before) })
	return sortLimit(ds, limit), nil
}

// PendingDeadlines implements eventstore.Deadlines.
func (s *Store) PendingDeadlines(ctx context.Context, domain string, limit int) ([]eventstore.Deadline, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	all, err := s.c.HGetAll(ctx, s.k.deadlines()).Result()
	if err != nil {
		return nil, s.fail(err, "list deadlines")
	}
	var out []eventstore.Deadline
	for id, v := range all {
		d, err := decodeDeadline(id, v)
		if err != nil {
			return nil, s.fail(err, "list deadlines")
		}
		if domain == "" || d.Cover.Domain == domain {
			out = append(out, d)
		}
	}
	return sortLimit(out, limit), nil
}

func (s *Store) readDeadlines(ctx context.Context, ids []string) ([]eventstore.Deadline, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := s.c.HMGet(ctx, s.k.deadlines(), ids...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Deadline, 0, len(ids))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // fired or cancelled since the range was read
		}
		d, err := decodeDeadline(ids[i], str)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func decodeDeadline(id, v string) (eventstore.Deadline, error) {
	j, ok := parseRecord(v)
	if !ok {
		if err := json.Unmarshal([]byte(v), &j); err != nil {
			return eventstore.Deadline{}, fmt.Errorf("deadline %q: %w", id, err)
		}
	}
	root, err := uuid.Parse(j.Root)
	if err != nil {
		return eventstore.Deadline{}, fmt.Errorf("deadline %q: root: %w", id, err)
	}
	return eventstore.Deadline{ID: id, Due: time.Unix(0, j.Due).UTC(), Cover: eventstore.Cover{Domain: j.Domain, Root: root},
		Command: j.Command, Key: j.Key, CreatedAt: time.Unix(0, j.Created).UTC()}, nil
}

// parseRecord reads a deadline's record as json.Marshal writes a
// deadlineJSON: its fields in order, numbers as integers, strings without
// escapes. Anything else (an escape, a null command) is not ok, and left
// to encoding/json. The firer reads every due deadline at each read, and
// encoding/json was a fifth of its CPU.
func parseRecord(s string) (j deadlineJSON, ok bool) {
	var command string
	s, ok = strings.CutPrefix(s, `{"d":`)
	if ok {
		j.Due, s, ok = cutInt(s, `,"m":"`)
	}
	if ok {
		j.Domain, s, ok = cutString(s, `,"r":"`)
	}
	if ok {
		j.Root, s, ok = cutString(s, `,"c":"`)
	}
	if ok {
		command, s, ok = cutString(s, `,"k":"`)
	}
	if ok {
		j.Key, s, ok = cutString(s, `,"t":`)
	}
	if ok {
		j.Created, s, ok = cutInt(s, `}`)
	}
	if !ok || s != "" {
		return deadlineJSON{}, false
	}
	var err error
	if j.Command, err = base64.StdEncoding.DecodeString(command); err != nil {
		return deadlineJSON{}, false
	}
	return j, true
}

// cutInt reads a decimal integer from the start of s, followed by sep,
// and returns the rest after sep.
func cutInt(s, sep string) (int64, string, bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	// JSON allows no leading zero (09), where ParseInt does.
	leadingZero := i-digits > 1 && s[digits] == '0'
	n, err := strconv.ParseInt(s[:i], 10, 64)
	rest, ok := strings.CutPrefix(s[i:], sep)
	return n, rest, err == nil && ok && !leadingZero
}

// cutString reads the rest of a JSON string whose opening quote was
// read, up to its closing quote followed by sep, and returns the rest
// after sep; a string with an escape, a control character or invalid
// UTF-8 (which encoding/json refuses or replaces) is not ok.
func cutString(s, sep string) (string, string, bool) {
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return "", "", false
	}
	ascii := true
	for i := range end {
		switch c := s[i]; {
		case c == '\\' || c < 0x20:
			return "", "", false
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(s[:end]) {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(s[end+1:], sep)
	return s[:end], rest, ok
}

func sortLimit(ds []eventstore.Deadline, limit int) []eventstore.Deadline {
	slices.SortFunc(ds, func(a, b eventstore.Deadline) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(ds) > limit {
		ds = ds[:limit]
	}
	return ds
}

var (
	_ eventstore.DeadlineCounter = (*Store)(nil)
	_ eventstore.DeadlineHorizon = (*Store)(nil)
)

// earliestScript: KEYS deadlines (the hash, for the script's key list);
// ARGV prefix of the slot sets, number of slots. Returns the lowest score
// of the slot sets (Unix µs), or nil when all are empty.
var earliestScript = goredis.NewScript(`
local first = false
for slot = 0, tonumber(ARGV[2]) - 1 do
	local r = redis.call('ZRANGE', ARGV[1] .. slot, 0, 0, 'WITHSCORES')
	if r[2] then
		local score = tonumber(r[2])
		if not first or score < first then first = score end
	end
end
return first`)

// EarliestDue implements eventstore.DeadlineHorizon: the first member of
// each slot's sorted set, in one script call. The time is the score's, to
// the microsecond.
func (s *Store) EarliestDue(ctx context.Context) (time.Time, bool, error) {
	if s.closed.Load() {
		return time.Time{}, false, eventstore.ErrClosed
	}
	us, err := earliestScript.Run(ctx, s.c, []string{s.k.deadlines()}, s.k.prefix+"deadlines:", eventstore.DeadlineSlots).Int64()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, s.fail(err, "read the earliest deadline")
	}
	return time.UnixMicro(us).UTC(), true, nil
}

// CountDeadlines implements eventstore.DeadlineCounter: HLEN of the
// deadlines hash, and ZCOUNT of every slot's set, in one pipeline.
func (s *Store) CountDeadlines(ctx context.Context, before time.Time) (pending, due int, err error) {
	if s.closed.Load() {
		return 0, 0, eventstore.ErrClosed
	}
	max := strconv.FormatInt(before.UnixMicro(), 10)
	var total *goredis.IntCmd
	counts := make([]*goredis.IntCmd, eventstore.DeadlineSlots)
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		total = p.HLen(ctx, s.k.deadlines())
		for slot := range counts {
			counts[slot] = p.ZCount(ctx, s.k.deadlineSlot(slot), "-inf", max)
		}
		return nil
	})
	if err != nil {
		return 0, 0, s.fail(err, "count deadlines")
	}
	for _, c := range counts {
		due += int(c.Val())
	}
	return int(total.Val()), due, nil
}
