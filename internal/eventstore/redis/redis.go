// Package redis stores events, snapshots, checkpoints, parked events and
// segment leases in Redis (6.2 or later; tested with 7.0), through go-redis.
//
// # Connecting
//
// Open takes a redis:// (or rediss:// for TLS) URL as go-redis understands
// it, plus one parameter of evented's, prefix: every key of the store begins
// with it (default "evented:"), so several stores can share a database:
//
//	redis://:secret@127.0.0.1:6379/0?prefix=shop:
//
// Open retries the first connection with backoff (see WithConnectRetry), so
// evented may start before Redis. It talks to one server (a primary); Redis
// Cluster is not supported by this client. Every script touches several
// keys of one store, which in a cluster would have to share a slot.
//
// # Keys
//
//	<prefix>events:<domain>:<root hex>    list: the cover's events, index = sequence
//	<prefix>position                      string: the last log position handed out
//	<prefix>log                           stream: one entry per event, ID "<position>-0",
//	                                      fields d (domain), r (root, 16 bytes), s (sequence)
//	<prefix>roots                         sorted set: one member per cover, for Roots
//	<prefix>snapshot:<domain>:<root hex>  hash: s (sequence), t (type URL), v (state), c (time)
//	<prefix>snapshots-older:<domain>:<root hex>  sorted set: the older snapshots kept (snapshots.keep),
//	                                      scored by sequence, "<sequence>:<time>:<type URL length>:<type URL><state>"
//	<prefix>checkpoints                   hash: subscriber → position
//	<prefix>parked:<subscriber>           hash: position → parked event
//	<prefix>segments:<subscriber>         hash: "<of>:<segment>:" + o, t, p, e → a lease row's
//	                                      owner, token, position, expiry (see segments.go)
//	<prefix>members                       sorted set: replica ID, scored by expiry (Unix µs)
//	<prefix>marks:<subscriber>            hash: "<root hex><domain>:" + n, c, i, f, u → a delivery
//	                                      mark's next, claimer, claim id, from, until (see marks.go)
//	<prefix>appended                      pub/sub channel: wake-ups after appends
//	<prefix>projection…                   projections and their changes (projections.go)
//	<prefix>key:<idempotency key>         hash, expiring: f (fingerprint), d, r (cover),
//	                                      a, b (sequences [a, b) stored), c, e (created,
//	                                      expires: Unix ms)
//	<prefix>deadlines                     hash: deadline ID → the deadline (JSON, see deadlines.go)
//	<prefix>deadline-keys                 hash: deadline ID → its idempotency key
//	<prefix>deadlines:<slot>              sorted set: deadline IDs of a slot, scored by due (Unix µs)
//
// # Appending
//
// An append is one Lua script, which Redis runs atomically: it reads the
// cover's next sequence (the list's length), checks every numbered page
// against it and, only when all fit, pushes the events, takes their log
// positions from the counter, adds them to the log stream and the cover to
// the roots. No other command runs in between, so
// of two appends claiming one sequence the second sees the first's events
// and conflicts; nothing is half-written by a conflict. (Redis does not roll
// back a script that fails midway, but this one checks everything before
// its first write, key types and the position counter included. A key
// found evicted or reset (Redis must run with maxmemory-policy
// noeviction) refuses the append, writing nothing, with an error matching
// eventstore.ErrDataLoss; a Redis at maxmemory refuses the script's first
// write (it checks memory before a script's first write only), which is
// eventstore.ErrFull, with nothing written.)
//
// A keyed append (eventstore.Idempotent) runs the same script behind a
// check of its key, and stores the key, with a TTL, in the same script.
// The deadline firer's groups (eventstore.GroupAppender) make many appends
// in one script, each checked and written as its own script would, its
// fired deadline removed with it; their aggregates are read by one script
// too (eventstore.BookLoader). See group.go.
//
// Appends made at once by several callers of one Store are grouped the
// same way: while one is being written the others queue, and a writer
// goroutine makes whatever is queued with one group script (see batch.go):
// one round trip and, with appendfsync always, one fsync of the
// append-only file for the group instead of one per append. A lone append
// is written by its caller with its own script.
//
// Appends are never re-sent by the driver: go-redis re-sends a command
// after a network error by default, and a script whose reply was lost has
// often run, so a re-sent append would be stored twice. Appends go through
// a client of their own with retries off; one that fails after it was sent
// (or whose group's call did) is an *eventstore.InDoubtError, left to the
// caller (with an idempotency key, retrying is safe).
//
// Log positions come from one counter incremented inside the script, so
// they are gap-free, and final as soon as the script returns: the log is
// ordered by construction, with no in-flight transactions to wait for.
// Creation times left unset are the evented process's clock when it sends
// the append.
//
// # Durability
//
// An acknowledged append is exactly as durable as the server's persistence
// settings make it, and this package cannot change that:
//
//   - appendonly yes, appendfsync always: Redis writes the append-only file
//     and fsyncs it before it replies, so an acknowledged append survives a
//     crash of Redis or of the machine. This is the setting for an event
//     store (and the one .ci/services.sh runs).
//   - appendonly yes, appendfsync everysec (Redis's default when AOF is on):
//     survives a crash of Redis, but a crash of the machine or a power cut
//     loses up to about the last second of acknowledged appends, more if
//     the disk is slow.
//   - appendonly no (Redis's default), with RDB snapshots (save …): every
//     append since the last snapshot, minutes of them, is lost when Redis
//     stops without saving. With neither, everything lives in memory only.
//
// With replicas, a failover may lose what the old primary acknowledged and
// had not replicated yet. Open logs the server's appendonly and appendfsync
// settings, at warning level when acknowledged appends can be lost.
//
// # Waking readers
//
// Appended is closed after every append made through this Store and on
// every message of the appended channel, so readers in other processes wake
// too. After its appends, each Store publishes one message at a time, at
// most one per 5ms, each covering the appends made before it (a PUBLISH per
// append, inside the script, cost a third of a single writer's
// throughput). Pub/sub is not durable: a message sent while the
// subscription reconnects is lost, and readers also poll, as the Log
// contract says.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

// Store is an eventstore.Store, Snapshots, Log, Checkpoints, Parking and
// Segments in one Redis database under one key prefix. It is safe for concurrent use,
// and any number of processes may share it.
type Store struct {
	c    *goredis.Client // everything but appends
	w    *goredis.Client // appends: never retried by go-redis
	k    keys
	log  *slog.Logger
	subs *goredis.PubSub

	dirty     chan struct{} // an append awaits its wake-up message (buffered, 1)
	stop      context.CancelFunc
	closed    atomic.Bool
	full      atomic.Bool // a write was refused at maxmemory; CheckSpace asks until it has room
	closeOnce sync.Once
	closeErr  error
	running   sync.WaitGroup // the subscriber, the notifier and the writer

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced at each append (Appended)

	// Grouped appends (batch.go).
	appends chan *pending // queued for the writer
	stopped chan struct{} // closed when the writer has stopped
	writing sync.Mutex    // held by whoever writes appends: the writer, or a caller alone
	groups  atomic.Int64  // groups the writer made
	begun   atomic.Int64  // groups the writer began: received their first append
	// lastGroup is the size of the writer's last group: above one, appends
	// come at once, and a caller that wrote its own would only keep the
	// next group waiting for a round trip.
	lastGroup atomic.Int32
	alone     atomic.Int64 // appends their callers wrote alone
}

var (
	_ eventstore.Store             = (*Store)(nil)
	_ eventstore.Snapshots         = (*Store)(nil)
	_ eventstore.SnapshotRetention = (*Store)(nil)
	_ eventstore.Log               = (*Store)(nil)
	_ eventstore.Checkpoints       = (*Store)(nil)
	_ eventstore.Parking           = (*Store)(nil)
	_ eventstore.Idempotent        = (*Store)(nil)
)

// DefaultPrefix begins every key when the URL has no prefix parameter.
const DefaultPrefix = "evented:"

// Option tunes Open.
type Option func(*options)

type options struct {
	log          *slog.Logger
	connectRetry time.Duration
}

// WithLogger sets the logger of connection retries and of the durability
// report (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithConnectRetry bounds how long Open keeps retrying the first connection
// while Redis is unreachable or loading its data (default 30s; 0 tries
// once). The wait between attempts doubles from 100ms up to 5s. Errors such
// as a wrong password are not retried.
func WithConnectRetry(d time.Duration) Option { return func(o *options) { o.connectRetry = d } }

const (
	defaultConnectRetry = 30 * time.Second
	// rootsPage is how many covers Roots reads per command; fn runs between
	// commands.
	rootsPage = 1000
	// notifyInterval spaces the wake-up messages of a busy Store: readers
	// in other processes wake at most this much later than they could.
	notifyInterval = 5 * time.Millisecond
)

// Open connects to the Redis at rawURL, retrying as WithConnectRetry says,
// and reports the server's persistence settings to the logger.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default(), connectRetry: defaultConnectRetry}
	for _, opt := range opts {
		opt(&o)
	}
	goURL, prefix, err := splitPrefix(rawURL)
	if err != nil {
		return nil, err
	}
	ro, err := goredis.ParseURL(goURL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	log := o.log.With("component", "redis", "server", ro.Addr, "db", ro.DB, "prefix", prefix)
	c := goredis.NewClient(ro)
	if err := connect(ctx, c, o.connectRetry, log); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: connect to %s: %w", ro.Addr, err)
	}
	reportDurability(ctx, c, log)
	wo := *ro
	wo.MaxRetries = -1 // see "Appending" in the package doc
	s := &Store{c: c, w: goredis.NewClient(&wo), k: keys{prefix}, log: log, notify: make(chan struct{}), dirty: make(chan struct{}, 1),
		appends: make(chan *pending, queueLen), stopped: make(chan struct{})}
	s.subs = c.Subscribe(ctx, s.k.appended())
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.running.Go(s.listen)
	s.running.Go(func() { s.notifier(bg) })
	s.running.Go(func() { s.writer(bg) })
	return s, nil
}

// splitPrefix takes evented's prefix parameter out of the URL, which
// go-redis would refuse as unknown.
func splitPrefix(rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("redis: %w", err)
	}
	q := u.Query()
	prefix := DefaultPrefix
	if q.Has("prefix") {
		prefix = q.Get("prefix")
		q.Del("prefix")
		u.RawQuery = q.Encode()
	}
	return u.String(), prefix, nil
}

// connect pings until Redis answers, the retry budget is spent, or an
// error says retrying is pointless.
func connect(ctx context.Context, c *goredis.Client, budget time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(budget)
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.Ping(ctx).Err()
		if err == nil {
			if attempt > 1 {
				log.Info("connected", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("gave up after %d attempts in %s: %w", attempt, budget, err)
		}
		log.Warn("redis not reachable, retrying", "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, 5*time.Second) + time.Duration(rand.Int64N(int64(wait/5)))
	}
}

// retryable tells network failures and a server still loading its data
// from answers that stay the same (a wrong password, an unknown command).
func retryable(err error) bool {
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "BUSY") || strings.HasPrefix(msg, "TRYAGAIN")
	}
	return true
}

// reportDurability logs what an acknowledged append survives, from the
// server's persistence settings. Servers that refuse CONFIG (managed
// services often do) get an informational line saying so.
func reportDurability(ctx context.Context, c *goredis.Client, log *slog.Logger) {
	cfg, err := c.ConfigGet(ctx, "append*").Result()
	if err != nil {
		log.Info("could not read the persistence settings (CONFIG GET refused); an acknowledged append is as durable as appendonly and appendfsync make it", "err", err)
		return
	}
	aof, fsync := cfg["appendonly"], cfg["appendfsync"]
	switch {
	case aof == "yes" && fsync == "always":
		log.Info("durability: appendonly yes, appendfsync always: an acknowledged append survives a crash")
	case aof == "yes":
		log.Warn("durability: a crash of the machine can lose about the last second of acknowledged appends; set appendfsync always to keep them", "appendonly", aof, "appendfsync", fsync)
	default:
		log.Warn("durability: appendonly is off: acknowledged appends since the last RDB snapshot are lost if Redis stops without saving; set appendonly yes and appendfsync always", "appendonly", aof)
	}
}

// Prefix is the prefix of every key of the store.
func (s *Store) Prefix() string { return s.k.prefix }

// Ping checks that Redis answers: for health checks.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := s.c.Ping(ctx).Err(); err != nil {
		return s.fail(err, "ping")
	}
	return nil
}

// Close ends the subscription and closes the client. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		err := s.subs.Close()
		s.running.Wait()
		s.closeErr = errors.Join(err, s.c.Close(), s.w.Close())
	})
	return s.closeErr
}

// fail wraps err, or reports ErrClosed when the store was closed under the
// call. A network failure matches eventstore.ErrUnavailable. It is for
// calls that may be repeated safely; appends use writeFailed.
func (s *Store) fail(err error, format string, args ...any) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	var rerr goredis.Error
	var netErr net.Error
	switch {
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), lossReply):
		err = fmt.Errorf("%w: %w (a key of the store was evicted or changed; Redis must run with maxmemory-policy noeviction, see docs/howto/storage.md, Redis)", eventstore.ErrDataLoss, err)
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM "):
		// maxmemory reached, with an eviction policy that keeps keys.
		s.full.Store(true)
		err = eventstore.Full(err)
	case errors.As(err, &rerr):
	case errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, goredis.ErrPoolTimeout):
		err = eventstore.Unavailable(err)
	}
	return fmt.Errorf("redis: "+format+": %w", append(args, err)...)
}

// Read implements eventstore.Store: one LRANGE.
func (s *Store) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	stop := int64(-1)
	if to != 0 {
		if to <= from {
			return nil, nil
		}
		stop = int64(to) - 1
	}
	items, err := s.c.LRange(ctx, s.k.events(cover), int64(from), stop).Result()
	if err != nil {
		return nil, s.fail(err, "read %s", cover)
	}
	if len(items) == 0 {
		return nil, nil
	}
	events := make([]eventstore.Event, len(items))
	for i, item := range items {
		if events[i], err = decodeEvent(from+uint32(i), item); err != nil {
			return nil, s.fail(err, "read %s: event %d", cover, from+uint32(i))
		}
	}
	return events, nil
}

// Roots implements eventstore.Store: the roots sorted set in byte order, a
// page at a time.
func (s *Store) Roots(ctx context.Context, fn func(eventstore.Cover) error) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	start := "-"
	for {
		page, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{
			Key: s.k.roots(), Start: start, Stop: "+", ByLex: true, Count: rootsPage,
		}).Result()
		if err != nil {
			return s.fail(err, "roots")
		}
		for _, m := range page {
			c, err := parseRootMember(m)
			if err != nil {
				return s.fail(err, "roots")
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < rootsPage {
			return nil
		}
		start = "(" + page[len(page)-1]
	}
}

// putSnapshot keeps the stored snapshot when its sequence is higher;
// else the stored one, when older, joins the older ones (KEYS[2]), which
// are trimmed to keep - 1 (ARGV[5]).
var putSnapshot = goredis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 's', 't', 'v', 'c')
if cur[1] and tonumber(cur[1]) > tonumber(ARGV[1]) then
	return 0
end
local keep = tonumber(ARGV[5])
if keep <= 1 then
	redis.call('DEL', KEYS[2])
else
	if cur[1] and tonumber(cur[1]) < tonumber(ARGV[1]) then
		redis.call('ZREMRANGEBYSCORE', KEYS[2], cur[1], cur[1])
		redis.call('ZADD', KEYS[2], cur[1], cur[1] .. ':' .. cur[4] .. ':' .. string.len(cur[2]) .. ':' .. cur[2] .. cur[3])
	end
	redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -keep)
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 't', ARGV[2], 'v', ARGV[3], 'c', ARGV[4])
return 1`)

// Snapshot implements eventstore.Snapshots.
func (s *Store) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	if s.closed.Load() {
		return eventstore.Snapshot{}, false, eventstore.ErrClosed
	}
	h, err := s.c.HGetAll(ctx, s.k.snapshot(cover)).Result()
	if err != nil {
		return eventstore.Snapshot{}, false, s.fail(err, "snapshot of %s", cover)
	}
	if len(h) == 0 {
		return eventstore.Snapshot{}, false, nil
	}
	seq, err1 := strconv.ParseUint(h["s"], 10, 32)
	at, err2 := strconv.ParseInt(h["c"], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return eventstore.Snapshot{}, false, s.fail(err, "snapshot of %s", cover)
	}
	return eventstore.Snapshot{
		Sequence:  uint32(seq),
		TypeURL:   h["t"],
		State:     []byte(h["v"]),
		CreatedAt: time.Unix(0, at).UTC(),
	}, true, nil
}

// PutSnapshot implements eventstore.Snapshots: it keeps one snapshot.
func (s *Store) PutSnapshot(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot) error {
	return s.PutSnapshotKeeping(ctx, cover, snap, 1)
}

// SnapshotHistory implements eventstore.SnapshotRetention: the latest,
// then the older ones below its sequence (two reads: a snapshot stored in
// between is not listed twice).
func (s *Store) SnapshotHistory(ctx context.Context, cover eventstore.Cover) ([]eventstore.Snapshot, error) {
	latest, ok, err := s.Snapshot(ctx, cover)
	if err != nil || !ok {
		return nil, err
	}
	older, err := s.c.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.k.olderSnapshots(cover), ByScore: true, Rev: true,
		Start: "(" + strconv.FormatUint(uint64(latest.Sequence), 10), Stop: "-inf"}).Result()
	if err != nil {
		return nil, s.fail(err, "snapshots of %s", cover)
	}
	out := []eventstore.Snapshot{latest}
	for _, m := range older {
		snap, err := parseOlderSnapshot(m)
		if err != nil {
			return nil, s.fail(err, "snapshots of %s", cover)
		}
		out = append(out, snap)
	}
	return out, nil
}

// parseOlderSnapshot reads a member of the older snapshots' set.
func parseOlderSnapshot(m string) (eventstore.Snapshot, error) {
	parts := strings.SplitN(m, ":", 4)
	if len(parts) != 4 {
		return eventstore.Snapshot{}, fmt.Errorf("older snapshot: %d fields, want 4", len(parts))
	}
	seq, err1 := strconv.ParseUint(parts[0], 10, 32)
	at, err2 := strconv.ParseInt(parts[1], 10, 64)
	n, err3 := strconv.Atoi(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return eventstore.Snapshot{}, fmt.Errorf("older snapshot: %w", err)
	}
	if n < 0 || n > len(parts[3]) {
		return eventstore.Snapshot{}, fmt.Errorf("older snapshot: type URL of %d bytes in %d", n, len(parts[3]))
	}
	return eventstore.Snapshot{Sequence: uint32(seq), TypeURL: parts[3][:n], State: []byte(parts[3][n:]),
		CreatedAt: time.Unix(0, at).UTC()}, nil
}

// PutSnapshotKeeping implements eventstore.SnapshotRetention: one script
// compares, moves the stored one among the older ones, trims them and
// writes. A zero CreatedAt is this process's clock.
func (s *Store) PutSnapshotKeeping(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot, keep int) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	at := snap.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	err := putSnapshot.Run(ctx, s.c, []string{s.k.snapshot(cover), s.k.olderSnapshots(cover)},
		snap.Sequence, snap.TypeURL, snap.State, at.UnixNano(), max(keep, 1)).Err()
	if err != nil {
		return s.fail(err, "put snapshot of %s", cover)
	}
	return nil
}

// SetDriverLogger sends go-redis's own messages (failed dials, pub/sub
// reconnects), which it otherwise prints to standard error, to l at
// warning level. go-redis has one logger per process, so this is a
// process-wide setting for the composition root to make, once.
func SetDriverLogger(l *slog.Logger) {
	goredis.SetLogger(driverLogger{l.With("component", "go-redis")})
}

type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Printf(ctx context.Context, format string, v ...any) {
	d.l.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
