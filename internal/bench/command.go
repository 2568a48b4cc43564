package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

const (
	commandTypeURL = "type.googleapis.com/bench.DoSomething"
	commandSize    = 64
	// commandsPerAggregate is how many commands a client sends to one
	// aggregate before moving to a fresh one: aggregates stay short (as the
	// examples' customers and transactions are), so the command scenario
	// measures handling, and the load scenario the cost of long histories.
	commandsPerAggregate = 20
)

// Floors of the command cases. One client waits for every commit, so its
// floor pays for one durable commit too; 16 clients' commits are grouped
// (that is the store's business), so their target's floor is the bare
// echo. Two more cases set 16 clients against the echo plus the plainest
// durable group commit, and against the echo plus a group sync of a plain
// file (no database: the least any durable group commit costs on the
// disk), so that a report shows how much of the gap to the bare echo
// durability itself takes (no targets).
const (
	echoFloor            = "two-hop gRPC echo: client -> server -> the same business-logic stub, no store"
	echoCommitFloor      = "two-hop gRPC echo plus one durable single-row commit per command: the echo server INSERTs the event into the store's events table (SQLite WAL, synchronous=FULL, one transaction per command, one connection) before it replies"
	echoGroupCommitFloor = "two-hop gRPC echo plus a durable group commit: the echo server queues the event for one writer goroutine, which INSERTs everything queued while its last commit ran into the store's events table in one transaction (SQLite WAL, synchronous=FULL, one connection) and answers each call after that commit"
	echoGroupSyncFloor   = "two-hop gRPC echo plus a group sync of a plain file, no database: the echo server queues the event for one writer goroutine, which writes the payloads of everything queued while its last sync ran to a file preallocated to 4 MiB (overwritten in a ring, as SQLite's WAL is between checkpoints) and syncs its data (fdatasync), then answers each call"
)

// echoStore is what the echo does with a command's event before it
// replies.
type echoStore int

const (
	echoNothing     echoStore = iota // the bare echo
	echoCommitEach                   // one SQLite transaction per command
	echoGroupCommit                  // one SQLite transaction per group, by one writer goroutine
	echoGroupSync                    // one write and data sync of a plain file per group, by one writer goroutine
)

func (r *runner) commandCases(b *backend) []spec {
	var cases []spec
	for _, clients := range []int{1, 16} {
		floor, raw := echoFloor, r.commandEcho(clients, nil, echoNothing)
		if clients == 1 && b.name == "sqlite" {
			floor, raw = echoCommitFloor, r.commandEcho(clients, freshFile(b, "command-raw"), echoCommitEach)
		}
		cases = append(cases, spec{
			name:    fmt.Sprintf("clients=%d", clients),
			floor:   floor,
			metrics: commandMetrics,
			evented: r.commandEvented(b, "command", 1, clients),
			raw:     raw,
			notes:   []string{commandNote},
		})
	}
	if b.name == "sqlite" {
		const clients = 16
		for _, f := range []struct {
			against, floor string
			file           filer
			store          echoStore
			note           string
		}{
			{"a durable floor", echoGroupCommitFloor, freshFile(b, "command-raw"), echoGroupCommit,
				"no target: shows what share of the gap to the bare echo the durable commit itself takes"},
			{"a sync-only floor", echoGroupSyncFloor, plainFile(b, "command-sync"), echoGroupSync,
				"no target: the floor's own share of the bare echo is the most any durable store can reach on this disk"},
		} {
			cases = append(cases, spec{
				name:    fmt.Sprintf("clients=%d against %s", clients, f.against),
				floor:   f.floor,
				metrics: commandMetrics,
				evented: r.commandEvented(b, "command", 1, clients),
				raw:     r.commandEcho(clients, f.file, f.store),
				notes:   []string{commandNote, f.note},
			})
		}
	}
	return cases
}

var commandMetrics = []metricSpec{
	{name: "commands/s", higher: true, format: "%.0f"},
	{name: "p50 ms", higher: false, format: "%.3f"},
	{name: "p99 ms", higher: false, format: "%.3f"},
	{name: "cpu us/command", higher: false, format: "%.0f"},
}

var commandNote = fmt.Sprintf("each client has its own aggregate and moves to a fresh one every %d commands; one event of %d bytes per command; durable store",
	commandsPerAggregate, payloadSize)

// stub is the Go business logic: one event per command page, nothing else.
type stub struct {
	eventedpb.UnimplementedBusinessLogicServer
	body []byte
}

func (s *stub) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	cmd := in.GetCommand()
	out := &eventedpb.EventBook{Cover: cmd.GetCover(), Pages: make([]*eventedpb.EventPage, len(cmd.GetPages()))}
	for i := range cmd.GetPages() {
		out.Pages[i] = &eventedpb.EventPage{Event: &anypb.Any{TypeUrl: eventTypeURL, Value: s.body}}
	}
	return out, nil
}

// echo is the first hop of the floor: a BusinessCoordinator that asks the
// stub and answers the reply evented would; with insert set, it first
// commits the event as one row, in a transaction of its own.
type echo struct {
	eventedpb.UnimplementedBusinessCoordinatorServer
	logic  eventedpb.BusinessLogicClient
	db     *sql.DB
	insert *sql.Stmt
	seq    atomic.Int64
	queue  chan *echoCommit // set: commits go through the group writer (group)
	// sink, when set, is the plain file the group writer writes the
	// events to instead of db (echoGroupSync), at sinkAt, from sinkBuf
	// (kept between groups); synced counts the events whose write was
	// synced.
	sink    *os.File
	sinkAt  int64
	sinkBuf []byte
	synced  atomic.Int64
}

// sinkSize is the ring the group sync writes in: about the size SQLite's
// WAL reaches between its automatic checkpoints (1,000 pages).
const sinkSize = 4 << 20

// echoCommit is a book queued for the echo's group writer, answered on
// done once committed.
type echoCommit struct {
	book *eventedpb.EventBook
	now  time.Time
	done chan error
}

func (e *echo) Handle(ctx context.Context, in *eventedpb.CommandBook) (*eventedpb.SynchronousProcessingResponse, error) {
	book, err := e.logic.Handle(ctx, &eventedpb.ContextualCommand{Events: &eventedpb.EventBook{Cover: in.GetCover()}, Command: in})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	switch {
	case e.queue != nil:
		c := &echoCommit{book: book, now: now, done: make(chan error, 1)}
		e.queue <- c
		if err := <-c.done; err != nil {
			return nil, err
		}
	case e.insert != nil:
		if err := e.commitAll(ctx, []*echoCommit{{book: book, now: now}}); err != nil {
			return nil, err
		}
	}
	at := timestamppb.New(now)
	for i, p := range book.GetPages() {
		p.Sequence, p.CreatedAt = &eventedpb.EventPage_Num{Num: uint32(i)}, at
	}
	return &eventedpb.SynchronousProcessingResponse{Books: []*eventedpb.EventBook{book}}, nil
}

// commitAll stores the events of books in one transaction, durably, with
// no check.
func (e *echo) commitAll(ctx context.Context, books []*echoCommit) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insert := tx.StmtContext(ctx, e.insert)
	for _, c := range books {
		root, _ := uuid.FromBytes(c.book.GetCover().GetRoot().GetValue())
		for _, p := range c.book.GetPages() {
			if _, err := insert.ExecContext(ctx, benchDomain, root.String(), e.seq.Add(1), p.GetEvent().GetTypeUrl(), p.GetEvent().GetValue(), timeText(c.now)); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// syncAll writes the payloads of books' events to the sink, after the
// last group's, wrapping round at sinkSize, and syncs its data.
func (e *echo) syncAll(books []*echoCommit) error {
	buf := e.sinkBuf[:0]
	events := 0
	for _, c := range books {
		for _, p := range c.book.GetPages() {
			buf = append(buf, p.GetEvent().GetValue()...)
			events++
		}
	}
	e.sinkBuf = buf
	if e.sinkAt+int64(len(buf)) > sinkSize {
		e.sinkAt = 0
	}
	if _, err := e.sink.WriteAt(buf, e.sinkAt); err != nil {
		return err
	}
	e.sinkAt += int64(len(buf))
	if err := dataSync(e.sink); err != nil {
		return err
	}
	e.synced.Add(int64(events))
	return nil
}

// group is the echo's group writer: it takes what is queued (waiting for
// the first), commits it in one transaction (or syncs it to the sink) and
// answers each, until queue is closed.
func (e *echo) group(ctx context.Context) {
	var batch []*echoCommit
	for c := range e.queue {
		batch = append(batch[:0], c)
	drain:
		for {
			select {
			case c := <-e.queue:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		var err error
		if e.sink != nil {
			err = e.syncAll(batch)
		} else {
			err = e.commitAll(ctx, batch)
		}
		for _, c := range batch {
			c.done <- err
		}
	}
}

// serveGRPC serves g on a free port of 127.0.0.1 and returns its address
// and a function that stops it.
func serveGRPC(ctx context.Context, g *grpc.Server) (string, func(), error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(l) }() // nil once Stop is called
	return l.Addr().String(), func() { g.Stop(); <-done }, nil
}

func startStub(ctx context.Context) (string, func(), error) {
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, &stub{body: payload()})
	return serveGRPC(ctx, g)
}

// startEvented runs a real evented server on 127.0.0.1:0 over store cfg,
// with domain bench routed to the business logic at logicAddr.
func (r *runner) startEvented(ctx context.Context, storage config.Storage, logicAddr string) (*server.Server, func() error, error) {
	return r.startEventedWith(ctx, storage, logicAddr, nil)
}

// startEventedWith is startEvented with the configuration changed by edit.
func (r *runner) startEventedWith(ctx context.Context, storage config.Storage, logicAddr string, edit func(*config.Config)) (*server.Server, func() error, error) {
	cfg := config.Default()
	cfg.Storage = storage
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	cfg.Server.ShutdownTimeout = 10 * time.Second
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: benchDomain, Address: logicAddr}}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(ctx, cfg, r.log)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	return srv, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("evented server did not stop within 30s")
		}
	}, nil
}

// clients makes n client connections, client w to addrs[w%len(addrs)], and
// the command of each client; each call of the returned op sends the next
// command of client w.
func clients(addrs []string, n int) (func(ctx context.Context, w int) (int, error), func(), error) {
	conns := make([]*grpc.ClientConn, n)
	stubs := make([]eventedpb.BusinessCoordinatorClient, n)
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	for i := range conns {
		c, err := grpc.NewClient(addrs[i%len(addrs)], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns[i], stubs[i] = c, eventedpb.NewBusinessCoordinatorClient(c)
	}
	sent := make([]int, n)
	cmds := make([]*eventedpb.CommandBook, n)
	body := make([]byte, commandSize)
	op := func(ctx context.Context, w int) (int, error) {
		if sent[w]%commandsPerAggregate == 0 {
			root := uuid.New()
			cmds[w] = &eventedpb.CommandBook{
				Cover: &eventedpb.Cover{Domain: benchDomain, Root: &eventedpb.UUID{Value: root[:]}},
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: commandTypeURL, Value: body}}},
			}
		}
		sent[w]++
		res, err := stubs[w].Handle(ctx, cmds[w])
		if err != nil {
			return 0, err
		}
		if len(res.GetBooks()) != 1 || len(res.GetBooks()[0].GetPages()) != 1 {
			return 0, fmt.Errorf("reply holds %d books, want 1 with 1 event", len(res.GetBooks()))
		}
		return 1, nil
	}
	return op, closeAll, nil
}

func commandSample(res run) sample {
	s := sample{"commands/s": res.rate(), "p50 ms": percentile(res.lat, 50), "p99 ms": percentile(res.lat, 99)}
	return res.addCPU(s, "cpu us/command")
}

// commandEvented: n clients sending commands to servers evented servers
// sharing one store (one SQLite file, or one database), all routed to one
// business-logic stub; client w talks to server w%servers.
func (r *runner) commandEvented(b *backend, label string, servers, n int) measure {
	return func(ctx context.Context) (s sample, err error) {
		logicAddr, stopStub, err := startStub(ctx)
		if err != nil {
			return nil, err
		}
		defer stopStub()
		storage := b.storage(label)
		defer removeDB(storage.Path)
		addrs := make([]string, servers)
		for i := range servers {
			srv, stop, err := r.startEvented(ctx, storage, logicAddr)
			if err != nil {
				return nil, err
			}
			defer func() { err = errors.Join(err, stop()) }()
			addrs[i] = srv.CommandAddr()
		}
		op, closeClients, err := clients(addrs, n)
		if err != nil {
			return nil, err
		}
		defer closeClients()
		res, err := timed(ctx, n, r.warmup(), r.cfg.Duration, op)
		if err != nil {
			return nil, err
		}
		return commandSample(res), nil
	}
}

// commandEcho is the floor of the command cases: the two-hop echo, doing
// with each command's event what store says, in file.
func (r *runner) commandEcho(n int, file filer, store echoStore) measure {
	return func(ctx context.Context) (sample, error) {
		_, addr, stop, err := serveEcho(ctx, file, store)
		if err != nil {
			return nil, err
		}
		defer stop()
		op, closeClients, err := clients([]string{addr}, n)
		if err != nil {
			return nil, err
		}
		defer closeClients()
		res, err := timed(ctx, n, r.warmup(), r.cfg.Duration, op)
		if err != nil {
			return nil, err
		}
		return commandSample(res), nil
	}
}

// serveEcho serves the two-hop echo on 127.0.0.1, with its stub, doing
// with each command's event what store says, in file, and returns it.
// stop stops both and closes the file.
func serveEcho(ctx context.Context, file filer, store echoStore) (e *echo, addr string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	logicAddr, stopStub, err := startStub(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	stops = append(stops, stopStub)
	conn, err := grpc.NewClient(logicAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", nil, err
	}
	stops = append(stops, func() { conn.Close() })
	e = &echo{logic: eventedpb.NewBusinessLogicClient(conn)}
	if store != echoNothing {
		path, done, err := file(ctx)
		if err != nil {
			return nil, "", nil, err
		}
		stops = append(stops, done)
		switch store {
		case echoGroupSync:
			if e.sink, err = openSink(path); err != nil {
				return nil, "", nil, err
			}
			stops = append(stops, func() { e.sink.Close() })
		default:
			if e.db, err = rawWriter(path); err != nil {
				return nil, "", nil, err
			}
			stops = append(stops, func() { e.db.Close() })
			if e.insert, err = e.db.PrepareContext(ctx, insertSQL); err != nil {
				return nil, "", nil, err
			}
			stops = append(stops, func() { e.insert.Close() })
		}
		if store == echoGroupCommit || store == echoGroupSync {
			e.queue = make(chan *echoCommit, 64)
			grouping := make(chan struct{})
			go func() { defer close(grouping); e.group(context.WithoutCancel(ctx)) }()
			stops = append(stops, func() { close(e.queue); <-grouping })
		}
	}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessCoordinatorServer(g, e)
	addr, stopEcho, err := serveGRPC(ctx, g)
	if err != nil {
		return nil, "", nil, err
	}
	stops = append(stops, stopEcho)
	return e, addr, stop, nil
}

// openSink creates the group sync's file at path, its ring written and
// synced once, so that the writes measured overwrite allocated blocks and
// change no size (as a WAL's between checkpoints).
func openSink(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(make([]byte, sinkSize)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// plainFile is a path in the run's directory for a plain file, which its
// cleanup removes.
func plainFile(b *backend, label string) filer {
	return func(context.Context) (string, func(), error) {
		path := b.storage(label).Path
		return path, func() { os.Remove(path) }, nil
	}
}
