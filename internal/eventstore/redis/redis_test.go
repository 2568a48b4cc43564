package redis_test

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
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/redis"
	"github.com/evented/evented/internal/eventstore/storetest"
	"github.com/evented/evented/internal/testenv"
)

// serverURL is the test server's URL from REDIS_TEST_URL (.ci/services.sh
// prints it). Without it the tests skip, visibly, except in CI, where a
// missing server must not pass for a green run.
func serverURL(t testing.TB) string {
	t.Helper()
	return testenv.Getenv(t, testenv.Redis)
}

// admin is a plain client of the test server, for set-up and checks.
func admin(t testing.TB) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// freshPrefix returns the server's URL with a key prefix of the test's own;
// its keys are deleted when the test ends.
func freshPrefix(t testing.TB) string {
	t.Helper()
	base := serverURL(t)
	var b [6]byte
	rand.Read(b[:])
	prefix := "evented_test_" + hex.EncodeToString(b[:]) + ":"
	c := admin(t)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s*: %v", prefix, err)
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete %s*: %v", prefix, err)
			}
		}
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	return u.String()
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

var urls sync.Map // *redis.Store → its URL, for reopen

func open(t testing.TB, url string, opts ...redis.Option) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), url, append([]redis.Option{redis.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(s, url)
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t testing.TB, s any) *redis.Store {
	url, ok := urls.Load(s)
	if !ok {
		t.Fatalf("reopen: unknown store %p", s)
	}
	return open(t, url.(string))
}

func TestStore(t *testing.T) {
	storetest.RunStore(t, storetest.Backend{
		Open:   func(t *testing.T) eventstore.Store { return open(t, freshPrefix(t)) },
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store { return reopen(t, s) },
	})
}

func TestSnapshots(t *testing.T) {
	storetest.RunSnapshots(t, func(t *testing.T) eventstore.Snapshots { return open(t, freshPrefix(t)) })
}

func TestLog(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Writers: 16, Open: func(t *testing.T) storetest.LogStore {
		return open(t, freshPrefix(t))
	}})
}

func TestSubscriptions(t *testing.T) {
	storetest.RunSubscriptions(t,
		func(t *testing.T) storetest.SubscriptionStore { return open(t, freshPrefix(t)) },
		func(t *testing.T, s storetest.SubscriptionStore) storetest.SubscriptionStore { return reopen(t, s) })
}

// TestPrefixIsolation runs two stores with different prefixes on one
// database: neither sees the other's events, log or roots.
func TestPrefixIsolation(t *testing.T) {
	ctx := t.Context()
	a, b := open(t, freshPrefix(t)), open(t, freshPrefix(t))
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	if _, err := a.Append(ctx, cover, []eventstore.Page{{TypeURL: "t"}}); err != nil {
		t.Fatal(err)
	}
	if events, err := b.Read(ctx, cover, 0, 0); err != nil || len(events) != 0 {
		t.Errorf("other prefix reads %d events, %v", len(events), err)
	}
	if head, err := b.Head(ctx); err != nil || head != 0 {
		t.Errorf("other prefix has head %d, %v", head, err)
	}
	n := 0
	if err := b.Roots(ctx, func(eventstore.Cover) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("other prefix lists %d roots, %v", n, err)
	}
	if !strings.HasPrefix(a.Prefix(), "evented_test_") || a.Prefix() == b.Prefix() {
		t.Errorf("prefixes %q and %q", a.Prefix(), b.Prefix())
	}
	keys, err := admin(t).Keys(ctx, a.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"events:d:" + hex.EncodeToString(cover.Root[:]), "position", "log", "roots"} {
		found := false
		for _, got := range keys {
			found = found || got == a.Prefix()+k
		}
		if !found {
			t.Errorf("key %s%s missing; keys: %v", a.Prefix(), k, keys)
		}
	}
}

// TestDefaultPrefix checks the documented default.
func TestDefaultPrefix(t *testing.T) {
	s := open(t, serverURL(t))
	if s.Prefix() != "evented:" {
		t.Errorf("Prefix() = %q; want evented:", s.Prefix())
	}
}

// TestRootsOddDomains lists covers whose domains contain the bytes the
// roots index escapes, and roots of 0x00 and 0xff bytes: byte order holds.
func TestRootsOddDomains(t *testing.T) {
	ctx := t.Context()
	s := open(t, freshPrefix(t))
	low, high := uuid.UUID{}, uuid.UUID{}
	for i := range high {
		high[i] = 0xff
	}
	var want []eventstore.Cover
	for _, d := range []string{"a", "a\x00", "a\x00b", "a\x01", "a:b", "ab", "\x00", "\xff"} {
		for _, r := range []uuid.UUID{low, high} {
			c := eventstore.Cover{Domain: d, Root: r}
			if _, err := s.Append(ctx, c, []eventstore.Page{{TypeURL: "t"}}); err != nil {
				t.Fatal(err)
			}
			want = append(want, c)
		}
	}
	// Expected order: by domain bytes, then root bytes.
	wantOrder := []string{"\x00", "a", "a\x00", "a\x00b", "a\x01", "a:b", "ab", "\xff"}
	var got []eventstore.Cover
	if err := s.Roots(ctx, func(c eventstore.Cover) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Roots listed %d covers; want %d", len(got), len(want))
	}
	for i, c := range got {
		if c.Domain != wantOrder[i/2] || (i%2 == 0) != (c.Root == low) {
			t.Errorf("Roots[%d] = %q/%s; want domain %q, root %s", i, c.Domain, c.Root, wantOrder[i/2], []uuid.UUID{low, high}[i%2])
		}
	}
}

func TestPing(t *testing.T) {
	s := open(t, freshPrefix(t))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := s.Ping(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Ping after Close: %v; want ErrClosed", err)
	}
}

// TestWakeAcrossStores appends through one Store and waits on another with
// the same prefix, as two processes would: the published message wakes it.
func TestWakeAcrossStores(t *testing.T) {
	url := freshPrefix(t)
	writer, reader := open(t, url), open(t, url)
	other := open(t, freshPrefix(t))
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		wake, quiet := reader.Appended(), other.Appended()
		if _, err := writer.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "t"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			select {
			case <-quiet:
				t.Fatal("a store with another prefix was woken")
			default:
			}
			return
		case <-time.After(200 * time.Millisecond): // the subscription may still be starting
		case <-deadline:
			t.Fatalf("no message reached the other store after %d appends", i+1)
		}
	}
}

// TestDurabilityReport checks what Open logs about the test server's
// persistence settings, read back from the server itself.
func TestDurabilityReport(t *testing.T) {
	cfg, err := admin(t).ConfigGet(t.Context(), "append*").Result()
	if err != nil {
		t.Skipf("CONFIG GET refused by the test server: %v", err)
	}
	var logs syncBuffer
	s, err := redis.Open(t.Context(), freshPrefix(t), redis.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := "level=WARN msg=\"durability: "
	if cfg["appendonly"] == "yes" && cfg["appendfsync"] == "always" {
		want = "level=INFO msg=\"durability: appendonly yes, appendfsync always: an acknowledged append survives a crash\""
	}
	if !strings.Contains(logs.String(), want) {
		t.Errorf("server has appendonly=%s appendfsync=%s; Open logged:\n%s\nwant a line with %s", cfg["appendonly"], cfg["appendfsync"], logs.String(), want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestConnectRetry starts Open against an address where Redis appears only
// after a while, as when evented starts first: Open retries, logs, and
// succeeds.
func TestConnectRetry(t *testing.T) {
	u, err := neturl.Parse(freshPrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u.Host = addr
	// Nothing listens at addr for 2.5s, longer than go-redis's own dial
	// and command retries of one Ping (about 2s); then a proxy to the
	// server does.
	go func() {
		time.Sleep(2500 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		t.Cleanup(func() { l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go forward(c, target)
		}
	}()
	var logs syncBuffer
	s, err := redis.Open(t.Context(), u.String(), redis.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("Open while Redis comes up: %v", err)
	}
	s.Close()
	retries := strings.Count(logs.String(), "redis not reachable, retrying")
	if retries < 1 || !strings.Contains(logs.String(), fmt.Sprintf("attempts=%d", retries+1)) {
		t.Errorf("logged %d retries; want at least one, then connected at the next attempt:\n%s", retries, logs.String())
	}
}

func TestConnectGivesUp(t *testing.T) {
	u, err := neturl.Parse(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = redis.Open(t.Context(), u.String(), redis.WithLogger(testLogger(t)), redis.WithConnectRetry(time.Second))
	if err == nil || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("Open of a closed port: err = %v; want it to give up after retries", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %v; want about the 1s budget", took)
	}

	// An answer that retrying cannot change fails at once.
	u, _ = neturl.Parse(serverURL(t))
	u.User = neturl.UserPassword("nobody", "wrong")
	start = time.Now()
	_, err = redis.Open(t.Context(), u.String(), redis.WithLogger(testLogger(t)))
	if err == nil || strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("Open with a wrong user: err = %v; want the server's error, not retried", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("wrong user took %v to fail; want no retries", took)
	}
}

func TestBadURL(t *testing.T) {
	_, err := redis.Open(t.Context(), "redis://127.0.0.1:1/0?colour=blue", redis.WithConnectRetry(0))
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("Open with an unknown parameter: err = %v; want it named", err)
	}
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

// TestDriverLogger routes go-redis's messages to a slog.Logger: a client
// dialing a closed port logs through it.
func TestDriverLogger(t *testing.T) {
	var logs syncBuffer
	redis.SetDriverLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { redis.SetDriverLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "component=go-redis") {
		t.Errorf("go-redis logged %q; want a warning through the slog.Logger", logs.String())
	}
}

func TestSegments(t *testing.T) {
	storetest.RunSegments(t, func(t *testing.T) storetest.SegmentStore { return open(t, freshPrefix(t)) })
}

func TestIdempotency(t *testing.T) {
	storetest.RunIdempotency(t, func(t *testing.T) storetest.IdempotentStore { return open(t, freshPrefix(t)) })
}

func TestMarks(t *testing.T) {
	storetest.RunMarks(t, func(t *testing.T) eventstore.Marks { return open(t, freshPrefix(t)) })
}

func TestProjections(t *testing.T) {
	storetest.RunProjections(t, func(t *testing.T) eventstore.Projections { return open(t, freshPrefix(t)) })
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, func(t *testing.T) storetest.DeadlineStore { return open(t, freshPrefix(t)) },
		func(t *testing.T, s storetest.DeadlineStore) storetest.DeadlineStore { return reopen(t, s) })
}
