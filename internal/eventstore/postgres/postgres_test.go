package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/postgres"
	"github.com/evented/evented/internal/eventstore/storetest"
	"github.com/evented/evented/internal/testenv"
)

// serverURL is the test server's URL from POSTGRES_TEST_URL (.ci/services.sh
// prints it). Without it the tests skip, visibly, except in CI, where a
// missing server must not pass for a green run.
func serverURL(t testing.TB) string {
	t.Helper()
	return testenv.Getenv(t, testenv.PostgreSQL)
}

// admin is a plain connection to the test server, for set-up and checks.
func admin(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// freshSchema creates a schema of its own for the test, dropped when the
// test ends, and returns the server's URL with search_path set to it. It
// holds no connection meanwhile: a benchmark makes one per wave.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := serverURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "evented_test_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

func withSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// urls remembers each store's URL, for Reopen.
var urls sync.Map // *postgres.Store → string

func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, append([]postgres.Option{postgres.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(s, url)
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t testing.TB, s any) *postgres.Store {
	url, ok := urls.Load(s)
	if !ok {
		t.Fatalf("reopen: unknown store %p", s)
	}
	return open(t, url.(string))
}

func TestStore(t *testing.T) {
	storetest.RunStore(t, storetest.Backend{
		Open:   func(t *testing.T) eventstore.Store { return open(t, freshSchema(t)) },
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store { return reopen(t, s) },
	})
}

func TestSnapshots(t *testing.T) {
	storetest.RunSnapshots(t, func(t *testing.T) eventstore.Snapshots { return open(t, freshSchema(t)) })
}

func TestLog(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Writers: 16, Open: func(t *testing.T) storetest.LogStore {
		return open(t, freshSchema(t))
	}})
}

// TestLogCommitDelays runs the Log suite with a random delay inside every
// append's transaction, between its insert and its commit: transactions
// commit out of position order all the time.
func TestLogCommitDelays(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Writers: 32, Open: func(t *testing.T) storetest.LogStore {
		url := freshSchema(t)
		s := open(t, url)
		delayCommits(t, url, 20*time.Millisecond)
		return s
	}})
}

func TestLogWithoutNotify(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Writers: 16, Open: func(t *testing.T) storetest.LogStore {
		return open(t, freshSchema(t), postgres.WithNotify(false))
	}})
}

func TestSubscriptions(t *testing.T) {
	storetest.RunSubscriptions(t,
		func(t *testing.T) storetest.SubscriptionStore { return open(t, freshSchema(t)) },
		func(t *testing.T, s storetest.SubscriptionStore) storetest.SubscriptionStore { return reopen(t, s) })
}

// delayCommits makes every insert into the events table of url's schema
// sleep up to max, at random, after its rows are written (the transaction
// has its id) and before it commits.
func delayCommits(t testing.TB, url string, max time.Duration) {
	t.Helper()
	conn := admin(t, url)
	_, err := conn.Exec(context.Background(), fmt.Sprintf(`
		CREATE FUNCTION delay_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(random() * %f); RETURN NULL; END $$;
		CREATE TRIGGER delay_commit AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION delay_commit();`,
		max.Seconds()))
	if err != nil {
		t.Fatal(err)
	}
}

// TestSchema checks the table layout promised to people using psql.
func TestSchema(t *testing.T) {
	ctx := t.Context()
	url := freshSchema(t)
	s := open(t, url)
	if s.Version() != 10 {
		t.Errorf("Version() = %d; want 10", s.Version())
	}
	cover := eventstore.Cover{Domain: "customer", Root: uuid.MustParse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8")}
	at := time.Date(2026, 11, 26, 10, 21, 42, 123456000, time.UTC)
	if _, err := s.Append(ctx, cover, []eventstore.Page{
		{TypeURL: "type.googleapis.com/examples.CustomerCreated", Payload: []byte("p0"), CreatedAt: at},
		{TypeURL: "type.googleapis.com/examples.LoyaltyPointsAdded", Payload: []byte("p1"), CreatedAt: at.Add(time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	conn := admin(t, url)
	rows, err := conn.Query(ctx, `SELECT domain, aggregate_id::text, sequence, type_url, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), payload
		FROM events ORDER BY created_at DESC LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var domain, id, typeURL, createdAt string
		var seq int64
		var payload []byte
		err := r.Scan(&domain, &id, &seq, &typeURL, &createdAt, &payload)
		return fmt.Sprintf("%s %s %d %s %s %s", domain, id, seq, typeURL, createdAt, payload), err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"customer 6ba7b810-9dad-11d1-80b4-00c04fd430c8 1 type.googleapis.com/examples.LoyaltyPointsAdded 2026-11-26 10:21:43.123456 p1",
		"customer 6ba7b810-9dad-11d1-80b4-00c04fd430c8 0 type.googleapis.com/examples.CustomerCreated 2026-11-26 10:21:42.123456 p0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for table, want := range map[string]string{
		"events": "position bigint, domain text, aggregate_id uuid, sequence bigint, type_url text, payload bytea, created_at timestamp with time zone, txid bigint, ordinal integer, " +
			"correlation_id text, command_id text, cause_domain text, cause_root uuid, cause_sequence bigint, depth bigint, schema_version bigint",
		"snapshots": "domain text, aggregate_id uuid, sequence bigint, type_url text, state bytea, created_at timestamp with time zone",
	} {
		var cols string
		err := conn.QueryRow(ctx, `SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
			FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, s.Schema(), table).Scan(&cols)
		if err != nil || cols != want {
			t.Errorf("%s columns = %q, %v; want %q", table, cols, err, want)
		}
	}
	// Positions decode as documented: the writing transaction's id, then
	// the ordinal.
	var position, txid, ordinal int64
	if err := conn.QueryRow(ctx, `SELECT position, txid, ordinal FROM events WHERE sequence = 1`).Scan(&position, &txid, &ordinal); err != nil {
		t.Fatal(err)
	}
	if position != txid<<20|ordinal || ordinal != 1 {
		t.Errorf("position %d, txid %d, ordinal %d; want position = txid<<20 | ordinal, ordinal 1", position, txid, ordinal)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	url := freshSchema(t)
	first := open(t, url)
	known := first.Version()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := admin(t, url).Exec(t.Context(), "INSERT INTO schema_migrations (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), url, postgres.WithLogger(testLogger(t)))
	if err == nil {
		s.Close()
		t.Fatal("Open of a schema at version 99 succeeded")
	}
	if want := fmt.Sprintf("version 99, newer than this binary knows (%d)", known); !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want it to name the newer version", err)
	}
}

func TestMissingSchema(t *testing.T) {
	url := withSearchPath(t, serverURL(t), "evented_no_such_schema")
	s, err := postgres.Open(t.Context(), url, postgres.WithLogger(testLogger(t)))
	if err == nil {
		s.Close()
		t.Fatal("Open with a search_path naming no schema succeeded")
	}
	if !strings.Contains(err.Error(), `search_path "evented_no_such_schema" names no existing schema`) {
		t.Errorf("err = %v; want it to say the search_path names no schema", err)
	}
}

// TestConcurrentMigrations opens many stores on one fresh schema at once:
// each migration step runs once, and every store ends at the latest version.
func TestConcurrentMigrations(t *testing.T) {
	url := freshSchema(t)
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), url, postgres.WithLogger(testLogger(t)))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if s.Version() != 10 {
				t.Errorf("Version() = %d; want 10", s.Version())
			}
		})
	}
	wg.Wait()
	var rows int
	if err := admin(t, url).QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil || rows != 10 {
		t.Errorf("schema_migrations has %d rows, %v; want 10", rows, err)
	}
}

func TestTooManyPages(t *testing.T) {
	s := open(t, freshSchema(t))
	pages := make([]eventstore.Page, postgres.MaxEventsPerAppend+1)
	_, err := s.Append(t.Context(), eventstore.Cover{Domain: "d", Root: uuid.New()}, pages)
	if !errors.Is(err, eventstore.ErrInvalid) || !strings.Contains(err.Error(), "at most 1048576") {
		t.Errorf("Append of %d pages: err = %v; want an invalid argument naming the limit", len(pages), err)
	}
}

func TestPing(t *testing.T) {
	s := open(t, freshSchema(t))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := s.Ping(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Ping after Close: %v; want ErrClosed", err)
	}
}

// TestNotifyAcrossStores appends through one Store and waits on another
// over the same schema, as two processes would: NOTIFY wakes the second.
func TestNotifyAcrossStores(t *testing.T) {
	url := freshSchema(t)
	writer, reader := open(t, url), open(t, url)
	other := open(t, freshSchema(t)) // another schema: not woken
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	// The listener may still be connecting: append until it hears one.
	deadline := time.After(10 * time.Second)
	for i := uint32(0); ; i++ {
		wake, quiet := reader.Appended(), other.Appended()
		if _, err := writer.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "t"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			select {
			case <-quiet:
				t.Fatal("a store over another schema was woken")
			default:
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no NOTIFY reached the other store after %d appends", i+1)
		}
	}
}

// TestConnectRetry starts Open against a proxy that drops the first
// connections, as a server still starting would: Open retries, logs, and
// succeeds.
func TestConnectRetry(t *testing.T) {
	url := freshSchema(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy, dropped := dropFirst(t, u.Host, 3)
	u.Host = proxy
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	s, err := postgres.Open(t.Context(), u.String(), postgres.WithLogger(log), postgres.WithNotify(false))
	if err != nil {
		t.Fatalf("Open through a proxy that drops the first 3 connections: %v", err)
	}
	defer s.Close()
	if dropped.Load() != 3 {
		t.Errorf("proxy dropped %d connections; want 3", dropped.Load())
	}
	// One attempt may cost the pool more than one connection: count the
	// attempts Open logged, not the proxy's connections.
	mu.Lock()
	defer mu.Unlock()
	retries := strings.Count(logs.String(), "database not reachable, retrying")
	if retries < 1 || !strings.Contains(logs.String(), fmt.Sprintf("msg=connected component=postgres server=%s/postgres attempts=%d", proxy, retries+1)) {
		t.Errorf("logged %d retries; want at least one, then connected at the next attempt:\n%s", retries, logs.String())
	}
}

func TestConnectGivesUp(t *testing.T) {
	base := serverURL(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	u, _ := neturl.Parse(base)
	u.Host = addr
	start := time.Now()
	_, err = postgres.Open(t.Context(), u.String(), postgres.WithLogger(testLogger(t)), postgres.WithConnectRetry(time.Second))
	if err == nil || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("Open of a closed port: err = %v; want it to give up after retries", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %v; want about the 1s budget", took)
	}

	// A server's answer that retrying cannot change fails at once.
	u, _ = neturl.Parse(base)
	u.Path = "/evented_no_such_database"
	start = time.Now()
	_, err = postgres.Open(t.Context(), u.String(), postgres.WithLogger(testLogger(t)))
	if err == nil || strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open of an unknown database: err = %v; want the server's error, not retried", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("unknown database took %v to fail; want no retries", took)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// dropFirst listens on 127.0.0.1 and closes the first n connections at
// once; later ones are forwarded to target.
func dropFirst(t testing.TB, target string, n int64) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var dropped atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if dropped.Load() < n {
				dropped.Add(1)
				c.Close()
				continue
			}
			go forward(c, target)
		}
	}()
	return l.Addr().String(), &dropped
}

func forward(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// TestREADMEQuery runs the psql query of the storage guide's PostgreSQL
// section, as written, on a schema with events.
func TestREADMEQuery(t *testing.T) {
	b, err := os.ReadFile("../../../docs/howto/storage.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## PostgreSQL\n")
	_, block, ok2 := strings.Cut(section, "```sql\n")
	query, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/howto/storage.md has no ```sql block in its PostgreSQL section")
	}
	url := freshSchema(t)
	s := open(t, url)
	if _, err := s.Append(t.Context(), eventstore.Cover{Domain: "customer", Root: uuid.New()}, []eventstore.Page{{TypeURL: "t"}, {TypeURL: "u"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := admin(t, url).Query(t.Context(), query)
	if err != nil {
		t.Fatalf("README query fails: %v\n%s", err, query)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n != 2 {
		t.Errorf("README query returned %d rows, %v; want the 2 events\n%s", n, rows.Err(), query)
	}
}

// TestStoreSerializable runs the Store suite with every transaction
// serializable (a server or role default some sites set): a lost race is
// then a serialization failure, not a unique violation, and is re-run the
// same way.
func TestStoreSerializable(t *testing.T) {
	storetest.RunStore(t, storetest.Backend{
		Open: func(t *testing.T) eventstore.Store {
			u, err := neturl.Parse(freshSchema(t))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("default_transaction_isolation", "serializable")
			u.RawQuery = q.Encode()
			s := open(t, u.String())
			var level string
			if err := admin(t, u.String()).QueryRow(t.Context(), "SHOW default_transaction_isolation").Scan(&level); err != nil || level != "serializable" {
				t.Fatalf("default_transaction_isolation = %q, %v", level, err)
			}
			return s
		},
	})
}

func TestSegments(t *testing.T) {
	storetest.RunSegments(t, func(t *testing.T) storetest.SegmentStore { return open(t, freshSchema(t)) })
}

func TestIdempotency(t *testing.T) {
	storetest.RunIdempotency(t, func(t *testing.T) storetest.IdempotentStore { return open(t, freshSchema(t)) })
}

func TestMarks(t *testing.T) {
	storetest.RunMarks(t, func(t *testing.T) eventstore.Marks { return open(t, freshSchema(t)) })
}

func TestProjections(t *testing.T) {
	storetest.RunProjections(t, func(t *testing.T) eventstore.Projections { return open(t, freshSchema(t)) })
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, func(t *testing.T) storetest.DeadlineStore { return open(t, freshSchema(t)) },
		func(t *testing.T, s storetest.DeadlineStore) storetest.DeadlineStore { return reopen(t, s) })
}

// A group of appends is one transaction: its events share a txid, the high
// bits of their positions, and their ordinals follow the group's order;
// with a conflicting append in it, it goes one append at a time.
func TestAppendGroupOneTransaction(t *testing.T) {
	ctx := context.Background()
	s := open(t, freshSchema(t))
	var as []eventstore.GroupAppend
	for i := range 5 {
		pages := []eventstore.Page{{TypeURL: "t", Payload: []byte{byte(i)}, HasNum: true, Num: 0}, {TypeURL: "t", HasNum: true, Num: 1}}
		as = append(as, eventstore.GroupAppend{Cover: eventstore.Cover{Domain: "group", Root: uuid.New()}, Pages: pages,
			Key: &eventstore.Key{ID: fmt.Sprintf("group-%d", i), TTL: time.Hour}})
	}
	for _, r := range s.AppendGroup(ctx, as) {
		if r.Err != nil || len(r.Events) != 2 {
			t.Fatalf("%d events, %v", len(r.Events), r.Err)
		}
	}
	logged, err := s.ReadLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 10 {
		t.Fatalf("%d events in the log, want 10", len(logged))
	}
	for i, l := range logged {
		if l.Position>>20 != logged[0].Position>>20 {
			t.Fatalf("event %d in transaction %d, the first in %d: the group was not one transaction", i, l.Position>>20, logged[0].Position>>20)
		}
		if want := as[i/2].Cover; l.Cover != want || l.Event.Sequence != uint32(i%2) || l.Position&(1<<20-1) != uint64(i) {
			t.Fatalf("log entry %d: %s/%d at ordinal %d, want %s/%d at %d", i, l.Cover, l.Event.Sequence, l.Position&(1<<20-1), want, i%2, i)
		}
	}
}
