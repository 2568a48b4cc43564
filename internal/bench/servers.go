package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/redis"
)

// The raw floors of the load and catch-up cases on PostgreSQL and Redis:
// the rows (keys) the store reads, read by the client library alone with
// the store's own queries (commands), each column scanned into a plain
// value, no event built.

const (
	pgReadEventsSQL = `SELECT sequence, created_at, type_url, payload,
		correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version FROM events
		WHERE domain = $1 AND aggregate_id = $2 AND sequence >= $3 AND sequence < $4 ORDER BY sequence`
	pgReadSnapshotSQL = `SELECT sequence, type_url, state, created_at FROM snapshots WHERE domain = $1 AND aggregate_id = $2
		ORDER BY sequence DESC LIMIT 1`
	pgReadLogSQL = `SELECT position, domain, aggregate_id, sequence, created_at, type_url, payload,
		correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version
		FROM events WHERE position > $1 ORDER BY position LIMIT $2`
)

// rawServer is the client of a raw floor on a server backend.
type rawServer struct {
	pg    *pgxpool.Pool
	redis *goredis.Client
	keys  redis.Raw
}

// openRawServer connects to b's server, or returns nil for SQLite.
func openRawServer(ctx context.Context, b *backend) (*rawServer, error) {
	switch b.name {
	case "postgres":
		pool, err := pgxpool.New(ctx, b.url)
		if err != nil {
			return nil, err
		}
		return &rawServer{pg: pool}, nil
	case "redis":
		keys, err := redis.RawKeys(b.url)
		if err != nil {
			return nil, err
		}
		opts, err := goredis.ParseURL(keys.URL)
		if err != nil {
			return nil, err
		}
		return &rawServer{redis: goredis.NewClient(opts), keys: keys}, nil
	}
	return nil, nil
}

func (s *rawServer) Close() {
	if s.pg != nil {
		s.pg.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
}

// loadFloor names what loadRaw reads on this server.
func (s *rawServer) loadFloor(withSnapshot bool, events int) string {
	if s.redis != nil {
		if withSnapshot {
			return fmt.Sprintf("the snapshot hash (HGETALL) and the %d event items after it (LRANGE), as the store reads them, not decoded", events)
		}
		return fmt.Sprintf("the %d event items (LRANGE of the aggregate's list), as the store reads them, not decoded", events)
	}
	if withSnapshot {
		return fmt.Sprintf("the snapshot row and the %d event rows after it, read by the store's SELECTs with pgx, columns scanned into plain values", events)
	}
	return fmt.Sprintf("the %d event rows read by the store's SELECT with pgx (cause and schema version included), scanned without building events", events)
}

// loadRaw is the floor of a load of cover: its latest snapshot (when
// withSnapshot) and the want events after it.
func (s *rawServer) loadRaw(r *runner, cover eventstore.Cover, withSnapshot bool, want int) measure {
	read := s.readPostgres
	if s.redis != nil {
		read = s.readRedis
	}
	return func(ctx context.Context) (sample, error) {
		return r.loads(ctx, want, func(ctx context.Context) (int, error) { return read(ctx, cover, withSnapshot) })
	}
}

func (s *rawServer) readPostgres(ctx context.Context, cover eventstore.Cover, withSnapshot bool) (int, error) {
	var from int64
	if withSnapshot {
		var typeURL string
		var state []byte
		var at time.Time
		if err := s.pg.QueryRow(ctx, pgReadSnapshotSQL, cover.Domain, pgtype.UUID{Bytes: cover.Root, Valid: true}).Scan(&from, &typeURL, &state, &at); err != nil {
			return 0, err
		}
	}
	rows, err := s.pg.Query(ctx, pgReadEventsSQL, cover.Domain, pgtype.UUID{Bytes: cover.Root, Valid: true}, from, int64(math.MaxUint32)+1)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var seq int64
		var at time.Time
		var typeURL string
		var body []byte
		var cause [7]any // scanned, not interpreted
		if err := rows.Scan(&seq, &at, &typeURL, &body, &cause[0], &cause[1], &cause[2], &cause[3], &cause[4], &cause[5], &cause[6]); err != nil {
			return 0, err
		}
		n++
	}
	return n, rows.Err()
}

func (s *rawServer) readRedis(ctx context.Context, cover eventstore.Cover, withSnapshot bool) (int, error) {
	var from int64
	if withSnapshot {
		h, err := s.redis.HGetAll(ctx, s.keys.Snapshot(cover)).Result()
		if err != nil {
			return 0, err
		}
		if from, err = strconv.ParseInt(h["s"], 10, 64); err != nil {
			return 0, fmt.Errorf("snapshot of %s: %w", cover, err)
		}
	}
	items, err := s.redis.LRange(ctx, s.keys.Events(cover), from, -1).Result()
	return len(items), err
}

// catchUpFloor names what catchUpRaw reads on this server.
func (s *rawServer) catchUpFloor() string {
	if s.redis != nil {
		return fmt.Sprintf("the same entries read in log order as the store reads them: XRANGE of %d log entries at a time, then their events by one pipeline of LINDEX, not decoded", readLogPage)
	}
	return fmt.Sprintf("the same rows read in log order by the store's SELECT with pgx, %d at a time, columns scanned into plain values", readLogPage)
}

// readLogPage is how many events a catch-up floor reads at a time: the
// delivery's own read size.
const readLogPage = 1024

// catchUpRaw reads the n events logged after position after, in log
// order, and reports the rate.
func (s *rawServer) catchUpRaw(after uint64, n int) measure {
	page := func(ctx context.Context, after uint64, limit int) (int, uint64, error) {
		return s.logPagePostgres(ctx, after, limit, nil)
	}
	if s.redis != nil {
		page = func(ctx context.Context, after uint64, limit int) (int, uint64, error) {
			return s.logPageRedis(ctx, s.keys.Log(), s.keys.Events, after, limit, nil)
		}
	}
	return func(ctx context.Context) (sample, error) {
		t0, c0 := time.Now(), cpuTime()
		count, pos := 0, after
		for count < n {
			got, last, err := page(ctx, pos, min(readLogPage, n-count))
			if err != nil {
				return nil, err
			}
			if got == 0 {
				return nil, fmt.Errorf("read %d events, want %d", count, n)
			}
			count, pos = count+got, last
		}
		return sample{"events/s": float64(n) / time.Since(t0).Seconds(), cpuPerEvent: cpuPer(cpuTime()-c0, n)}, nil
	}
}

// logPagePostgres reads up to limit events after position after, hands
// seen (unless nil) each one's payload, and returns how many it read and
// the last one's position.
func (s *rawServer) logPagePostgres(ctx context.Context, after uint64, limit int, seen func([]byte)) (int, uint64, error) {
	rows, err := s.pg.Query(ctx, pgReadLogSQL, int64(after), limit)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	n, last := 0, after
	for rows.Next() {
		var pos, seq int64
		var domain, typeURL string
		var root [16]byte
		var at time.Time
		var body []byte
		var cause [7]any // the store's other columns: scanned, not interpreted
		if err := rows.Scan(&pos, &domain, &root, &seq, &at, &typeURL, &body,
			&cause[0], &cause[1], &cause[2], &cause[3], &cause[4], &cause[5], &cause[6]); err != nil {
			return 0, 0, err
		}
		if seen != nil {
			seen(body)
		}
		n, last = n+1, uint64(pos)
	}
	return n, last, rows.Err()
}

// logPageRedis reads up to limit entries of the log stream after position
// after and the event of each (from the list events names for its cover),
// hands seen (unless nil) each event as stored, and returns how many it
// read and the last one's position.
func (s *rawServer) logPageRedis(ctx context.Context, log string, events func(eventstore.Cover) string, after uint64, limit int, seen func([]byte)) (int, uint64, error) {
	entries, err := s.redis.XRangeN(ctx, log, "("+strconv.FormatUint(after, 10)+"-0", "+", int64(limit)).Result()
	if err != nil || len(entries) == 0 {
		return 0, after, err
	}
	pipe := s.redis.Pipeline()
	cmds := make([]*goredis.StringCmd, len(entries))
	last := after
	for i, x := range entries {
		pos, _, _ := strings.Cut(x.ID, "-")
		if last, err = strconv.ParseUint(pos, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("log entry %s: %w", x.ID, err)
		}
		seq, err := strconv.ParseInt(fmt.Sprint(x.Values["s"]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("log entry %s: %w", x.ID, err)
		}
		var c eventstore.Cover
		c.Domain, _ = x.Values["d"].(string)
		root, _ := x.Values["r"].(string)
		copy(c.Root[:], root)
		cmds[i] = pipe.LIndex(ctx, events(c), seq)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, err
	}
	if seen != nil {
		for _, c := range cmds {
			b, err := c.Bytes()
			if err != nil {
				return 0, 0, err
			}
			seen(b)
		}
	}
	return len(entries), last, nil
}

// lagFloor names what lagRaw does on this server.
func (s *rawServer) lagFloor() string {
	if s.redis != nil {
		return "the same paced events written as the store's script writes them (RPUSH to the aggregate's list, INCRBY of the position, XADD to the log, ZADD of the root) in one MULTI/EXEC each on one connection, under keys of its own, read in log order (XRANGE, then a pipeline of LINDEX) by a reader woken in-process after each write"
	}
	return "the same paced rows inserted into the store's events table by one INSERT each on one connection with pgx (autocommit), read in log order by the store's SELECT on another, by a reader woken in-process after each commit"
}

// lagRaw is the floor of the delivery lag on this server (see lagFloor).
// On PostgreSQL the reader starts at the head of the log as it is; on
// Redis it reads a log of its own, deleted at the end.
func (s *rawServer) lagRaw(r *runner, b *backend) measure {
	if s.redis != nil {
		return func(ctx context.Context) (sample, error) { return s.lagRedis(ctx, r) }
	}
	return func(ctx context.Context) (sample, error) { return s.lagPostgres(ctx, r, b) }
}

func (s *rawServer) lagPostgres(ctx context.Context, r *runner, b *backend) (sample, error) {
	conn, closeConn, err := rawPostgresConn(ctx, b, "lag-raw")
	if err != nil {
		return nil, err
	}
	defer closeConn()
	var head int64
	if err := s.pg.QueryRow(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&head); err != nil {
		return nil, err
	}
	ids := make([]pgtype.UUID, lagAggregates)
	for i := range ids {
		ids[i] = pgtype.UUID{Bytes: uuid.New(), Valid: true}
	}
	write := func(ctx context.Context, i, a, seq int) error {
		_, err := conn.Exec(ctx, `INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at)
			VALUES (0, $1, $2, $3, $4, $5, now())`, benchDomain, ids[a], seq, eventTypeURL, indexed(i))
		return err
	}
	after := uint64(head)
	page := func(ctx context.Context, seen func([]byte)) (int, error) {
		n, last, err := s.logPagePostgres(ctx, after, readLogPage, seen)
		after = last
		return n, err
	}
	return r.rawLag(ctx, write, page)
}

func (s *rawServer) lagRedis(ctx context.Context, r *runner) (sample, error) {
	opts, err := goredis.ParseURL(s.keys.URL)
	if err != nil {
		return nil, err
	}
	opts.PoolSize = 1
	w := goredis.NewClient(opts)
	defer w.Close()
	prefix := "benchraw:" + uuid.NewString() + ":"
	counter, log, roots := prefix+"position", prefix+"log", prefix+"roots"
	events := func(c eventstore.Cover) string { return prefix + "events:" + c.Root.String() }
	covers := make([]eventstore.Cover, lagAggregates)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
	}
	defer func() {
		keys := []string{counter, log, roots}
		for _, c := range covers {
			keys = append(keys, events(c))
		}
		s.redis.Del(context.WithoutCancel(ctx), keys...)
	}()
	var pos uint64
	write := func(ctx context.Context, i, a, seq int) error {
		c := covers[a]
		pos++
		_, err := w.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.RPush(ctx, events(c), indexed(i))
			p.IncrBy(ctx, counter, 1)
			p.XAdd(ctx, &goredis.XAddArgs{Stream: log, ID: strconv.FormatUint(pos, 10) + "-0",
				Values: []any{"d", c.Domain, "r", string(c.Root[:]), "s", seq}})
			p.ZAdd(ctx, roots, goredis.Z{Member: c.Root.String()})
			return nil
		})
		return err
	}
	var after uint64
	page := func(ctx context.Context, seen func([]byte)) (int, error) {
		n, last, err := s.logPageRedis(ctx, log, events, after, readLogPage, seen)
		after = last
		return n, err
	}
	return r.rawLag(ctx, write, page)
}
