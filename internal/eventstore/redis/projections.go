package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Projections = (*Store)(nil)

// Projections on Redis:
//
//	<prefix>projection:<projector hex>:<key>  hash: d (domain), r (root hex), s (sequence),
//	                                          t (type URL), p (payload), v (version)
//	<prefix>projection_changes                sorted set: one member per change, scored by
//	                                          its version: "<version>|" then the projector,
//	                                          key, domain, root hex, sequence, type URL and
//	                                          payload, each as "<length>:<bytes>"
//	<prefix>projection_version                string: the last version handed out
//
// PutProjection is one Lua script (decide, INCR, HSET, ZADD, trim), so it
// is all or nothing and versions are handed out in the order puts run. It
// is safe to run twice (go-redis re-sends a script whose reply was lost):
// the second run finds the same projection stored and changes nothing.

func (k keys) projection(projector, key string) string {
	return k.prefix + "projection:" + hex.EncodeToString([]byte(projector)) + ":" + key
}
func (k keys) projectionChanges() string { return k.prefix + "projection_changes" }
func (k keys) projectionVersion() string { return k.prefix + "projection_version" }

// putProjectionScript: KEYS projection hash, changes, version; ARGV
// projector, key, domain, root hex, sequence, type URL, payload,
// retention. Returns {stored (0/1), version}.
var putProjectionScript = goredis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'd', 'r', 's', 't', 'p', 'v')
if cur[6] and cur[1] == ARGV[3] and cur[2] == ARGV[4] then
	local cs, ns = tonumber(cur[3]), tonumber(ARGV[5])
	if ns < cs or (ns == cs and cur[4] == ARGV[6] and cur[5] == ARGV[7]) then
		return {0, tonumber(cur[6])}
	end
end
local v = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'r', ARGV[4], 's', ARGV[5], 't', ARGV[6], 'p', ARGV[7], 'v', v)
local function lp(x) return string.format('%d', #x) .. ':' .. x end
local member = string.format('%d', v) .. '|' .. lp(ARGV[1]) .. lp(ARGV[2]) .. lp(ARGV[3]) .. lp(ARGV[4]) .. lp(ARGV[5]) .. lp(ARGV[6]) .. lp(ARGV[7])
redis.call('ZADD', KEYS[2], v, member)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', v - tonumber(ARGV[8]))
return {1, v}`)

// PutProjection implements eventstore.Projections.
func (s *Store) PutProjection(ctx context.Context, p eventstore.Projection) (uint64, bool, error) {
	if err := eventstore.CheckProjection(p); err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, eventstore.ErrClosed
	}
	res, err := putProjectionScript.Run(ctx, s.c,
		[]string{s.k.projection(p.Projector, p.Key), s.k.projectionChanges(), s.k.projectionVersion()},
		p.Projector, p.Key, p.Cover.Domain, hex.EncodeToString(p.Cover.Root[:]), strconv.FormatUint(uint64(p.Sequence), 10),
		p.TypeURL, string(p.Payload), eventstore.ChangeRetention).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("script returned %v", res)
	}
	if err != nil {
		return 0, false, s.fail(err, "put projection %s of %s", p.Key, p.Projector)
	}
	return uint64(res[1]), res[0] == 1, nil
}

// GetProjection implements eventstore.Projections.
func (s *Store) GetProjection(ctx context.Context, projector, key string) (eventstore.Projection, bool, error) {
	if s.closed.Load() {
		return eventstore.Projection{}, false, eventstore.ErrClosed
	}
	row, err := s.c.HMGet(ctx, s.k.projection(projector, key), "d", "r", "s", "t", "p", "v").Result()
	if err != nil {
		return eventstore.Projection{}, false, s.fail(err, "get projection %s of %s", key, projector)
	}
	if row[5] == nil {
		return eventstore.Projection{}, false, nil
	}
	var f [6]string
	for i := range f {
		f[i], _ = row[i].(string)
	}
	p, err := parseProjection(projector, key, f[0], f[1], f[2], f[3], f[4], f[5])
	if err != nil {
		return eventstore.Projection{}, false, s.fail(err, "get projection %s of %s", key, projector)
	}
	return p, true, nil
}

func parseProjection(projector, key, domain, root, seq, typeURL, payload, version string) (eventstore.Projection, error) {
	raw, err1 := hex.DecodeString(root)
	sq, err2 := strconv.ParseUint(seq, 10, 32)
	v, err3 := strconv.ParseUint(version, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return eventstore.Projection{}, fmt.Errorf("malformed projection: %w", err)
	}
	id, err := uuid.FromBytes(raw)
	if err != nil {
		return eventstore.Projection{}, fmt.Errorf("malformed projection root: %w", err)
	}
	return eventstore.Projection{Projector: projector, Key: key, Cover: eventstore.Cover{Domain: domain, Root: id},
		Sequence: uint32(sq), TypeURL: typeURL, Payload: []byte(payload), Version: v}, nil
}

// parseChange reads a member of the changes sorted set.
func parseChange(m string) (eventstore.Projection, error) {
	version, rest, ok := strings.Cut(m, "|")
	if !ok {
		return eventstore.Projection{}, fmt.Errorf("malformed projection change %q", m)
	}
	var f [7]string
	for i := range f {
		n, tail, ok := strings.Cut(rest, ":")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || size < 0 || size > len(tail) {
			return eventstore.Projection{}, fmt.Errorf("malformed projection change at version %s", version)
		}
		f[i], rest = tail[:size], tail[size:]
	}
	return parseProjection(f[0], f[1], f[2], f[3], f[4], f[5], f[6], version)
}

// ProjectionChanges implements eventstore.Projections.
func (s *Store) ProjectionChanges(ctx context.Context, after uint64, limit int) ([]eventstore.Projection, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	members, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.k.projectionChanges(), ByScore: true,
		Start: "(" + strconv.FormatUint(after, 10), Stop: "+inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, s.fail(err, "projection changes after %d", after)
	}
	out := make([]eventstore.Projection, 0, len(members))
	for _, m := range members {
		p, err := parseChange(m)
		if err != nil {
			return nil, s.fail(err, "projection changes after %d", after)
		}
		if len(out) == 0 && p.Version > after+1 {
			return nil, eventstore.ErrChangesTrimmed
		}
		out = append(out, p)
	}
	return out, nil
}

// ProjectionVersion implements eventstore.Projections.
func (s *Store) ProjectionVersion(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	v, err := s.c.Get(ctx, s.k.projectionVersion()).Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "projection version")
	}
	return v, nil
}
