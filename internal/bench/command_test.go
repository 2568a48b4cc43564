package bench

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/evented/evented/internal/config"
)

// The command path in go test terms, for profiles and allocation counts
// (go test -run X -bench 'Handle|Echo' -benchmem -cpuprofile …): 16
// clients, one connection each, as the command scenario; Handle on the
// in-memory store (no fsync: the CPU of the path itself) and on durable
// SQLite, and the two-hop echo beside them.

func BenchmarkHandleMemory(b *testing.B) {
	benchmarkHandle(b, config.Storage{Type: "memory"}, parallelCommands)
}

func BenchmarkHandleSQLite(b *testing.B) { benchmarkHandle(b, durable(b), parallelCommands) }

func BenchmarkEcho(b *testing.B) { benchmarkEcho(b, echoNothing, parallelCommands) }

// BenchmarkEchoGroupCommit is the echo committing 16 clients' events through
// one group writer: the durable floor of 16 clients (no target).
func BenchmarkEchoGroupCommit(b *testing.B) { benchmarkEcho(b, echoGroupCommit, parallelCommands) }

// BenchmarkEchoGroupSync is the echo syncing 16 clients' events to a plain
// file through one group writer, no database: the sync-only floor of 16
// clients (no target).
func BenchmarkEchoGroupSync(b *testing.B) { benchmarkEcho(b, echoGroupSync, parallelCommands) }

// One client, commands one after another: the latency path, Handle on
// durable SQLite against its floor, the echo committing each command's
// event (as the command scenario's 1-client case).
func BenchmarkHandleOneSQLite(b *testing.B) { benchmarkHandle(b, durable(b), serialCommands) }

func BenchmarkEchoCommitOne(b *testing.B) { benchmarkEcho(b, echoCommitEach, serialCommands) }

func durable(b *testing.B) config.Storage {
	return config.Storage{Type: "sqlite", Sync: "full", Path: b.TempDir() + "/events.db"}
}

// benchmarkHandle sends commands to a server on storage, by send.
func benchmarkHandle(b *testing.B, storage config.Storage, send func(*testing.B, string)) {
	ctx := b.Context()
	logicAddr, stopStub, err := startStub(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopStub()
	r := &runner{log: slog.New(slog.DiscardHandler)}
	srv, stop, err := r.startEvented(ctx, storage, logicAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			b.Error(err)
		}
	}()
	send(b, srv.CommandAddr())
}

// benchmarkEcho sends commands to the two-hop echo, by send, which does
// with each command's event what store says, in a fresh file.
func benchmarkEcho(b *testing.B, store echoStore, send func(*testing.B, string)) {
	dir := &backend{name: "sqlite", dir: b.TempDir()}
	file := freshFile(dir, "echo")
	if store == echoGroupSync {
		file = plainFile(dir, "echo-sync")
	}
	_, addr, stop, err := serveEcho(b.Context(), file, store)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	send(b, addr)
}

// serialCommands sends b.N commands to addr from one client, each after
// the last one's reply.
func serialCommands(b *testing.B, addr string) {
	op, closeClients, err := clients([]string{addr}, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer closeClients()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := op(context.Background(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}

// parallelCommands sends b.N commands to addr from 16 clients (or the
// multiple of GOMAXPROCS nearest above), one goroutine each.
func parallelCommands(b *testing.B, addr string) {
	p := (16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	n := p * runtime.GOMAXPROCS(0)
	op, closeClients, err := clients([]string{addr}, n)
	if err != nil {
		b.Fatal(err)
	}
	defer closeClients()
	var next atomic.Int64
	b.SetParallelism(p)
	b.ResetTimer()
	cpu := cpuTime()
	r0, w0, ok := ioCalls()
	defer func() {
		// The process's read and write system calls per command: sockets
		// and files, in every goroutine (the clients', the servers').
		if r1, w1, _ := ioCalls(); ok {
			b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
			b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
		}
	}()
	defer func() { b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op") }()
	b.RunParallel(func(pb *testing.PB) {
		w := int(next.Add(1)-1) % n
		for pb.Next() {
			if _, err := op(context.Background(), w); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestEchoGroupCommitStoresEveryEvent: the durable floor of 16 clients
// answers each call only once its event is committed, and commits every
// one of them, however the group writer batches them.
func TestEchoGroupCommitStoresEveryEvent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "echo.db")
	file := func(ctx context.Context) (string, func(), error) { return path, func() {}, schema(ctx, path) }
	_, addr, stop, err := serveEcho(ctx, file, echoGroupCommit)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	read, err := rawReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	stored := func() (rows int64) {
		if err := read.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&rows); err != nil {
			t.Error(err)
		}
		return rows
	}
	callsDurable(t, addr, "stored", stored)
}

// callsDurable sends 25 commands from each of 16 clients to the echo at
// addr and checks that, whenever a call is answered, durable (the events
// the echo made durable) counts every call answered so far, and at the
// end every call. It returns the number of calls.
func callsDurable(t *testing.T, addr, what string, durable func() int64) int {
	t.Helper()
	const n, each = 16, 25
	op, closeClients, err := clients([]string{addr}, n)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClients()
	var answered atomic.Int64
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for range each {
				if _, err := op(t.Context(), w); err != nil {
					t.Error(err)
					return
				}
				// Every call answered so far was made durable before its answer.
				if a := answered.Add(1); durable() < a {
					t.Errorf("%d calls answered, fewer events %s", a, what)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := durable(); got != n*each {
		t.Errorf("%d events %s after %d commands, want all", got, what, n*each)
	}
	return n * each
}

// TestEchoGroupSyncSyncsEveryEvent: the sync-only floor of 16 clients
// answers each call only once its event's write is synced, and syncs every
// one of them, however the group writer batches them.
func TestEchoGroupSyncSyncsEveryEvent(t *testing.T) {
	ctx := t.Context()
	file := plainFile(&backend{name: "sqlite", dir: t.TempDir()}, "echo-sync")
	e, addr, stop, err := serveEcho(ctx, file, echoGroupSync)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	calls := callsDurable(t, addr, "synced", e.synced.Load)
	if got, want := e.sinkAt, int64(calls*payloadSize); got != want {
		t.Errorf("%d bytes written after %d commands, want %d", got, calls, want)
	}
}
