package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// hostileCase is one request no well-behaved client sends.
type hostileCase struct {
	name string
	// method is the full gRPC method; the request is sent as raw bytes.
	method string
	req    []byte
	// want is the code; mention, when set, must appear in the message
	// (the field or the limit the client got wrong).
	want    codes.Code
	mention string
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// coverBytes encodes a Cover by hand, so that domains that are not valid
// UTF-8 (which proto.Marshal refuses to encode) reach the server.
func coverBytes(domain string, root []byte) []byte {
	var c []byte
	if root != nil {
		c = protowire.AppendTag(c, 1, protowire.BytesType)
		c = protowire.AppendBytes(c, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), root))
	}
	c = protowire.AppendTag(c, 2, protowire.BytesType)
	return protowire.AppendString(c, domain)
}

// commandBytes is a CommandBook of the cover with n pages of payload bytes.
func commandBytes(cover []byte, n, payload int) []byte {
	var b []byte
	if cover != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, cover)
	}
	anyMsg := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "type.googleapis.com/AddItem")
	anyMsg = protowire.AppendBytes(protowire.AppendTag(anyMsg, 2, protowire.BytesType), make([]byte, payload))
	page := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), anyMsg)
	for range n {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, page)
	}
	return b
}

func hostileCases(t testing.TB) []hostileCase {
	root := uuid.New()
	good := coverBytes("orders", root[:])
	const (
		handle    = "/evented.BusinessCoordinator/Handle"
		record    = "/evented.BusinessCoordinator/Record"
		projector = "/evented.ProjectorCoordinator/HandleSync"
		saga      = "/evented.SagaCoordinator/HandleSync"
		parked    = "/evented.DeliveryAdmin/ListParked"
		replay    = "/evented.DeliveryAdmin/ReplayParked"
	)
	valid := commandBytes(good, 1, 8)
	event := &eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: &anypb.Any{TypeUrl: "type.googleapis.com/ItemAdded"}}
	cases := []hostileCase{
		{name: "Handle/no cover", method: handle, req: commandBytes(nil, 1, 8), want: codes.InvalidArgument, mention: "cover"},
		{name: "Handle/no pages", method: handle, req: commandBytes(good, 0, 0), want: codes.InvalidArgument, mention: "page"},
		{name: "Handle/no root", method: handle, req: commandBytes(coverBytes("orders", nil), 1, 8), want: codes.InvalidArgument, mention: "root"},
		{name: "Handle/short root", method: handle, req: commandBytes(coverBytes("orders", []byte{1, 2, 3}), 1, 8), want: codes.InvalidArgument, mention: "root"},
		{name: "Handle/long root", method: handle, req: commandBytes(coverBytes("orders", make([]byte, 17)), 1, 8), want: codes.InvalidArgument, mention: "root"},
		{name: "Handle/empty domain", method: handle, req: commandBytes(coverBytes("", root[:]), 1, 8), want: codes.InvalidArgument, mention: "domain"},
		{name: "Handle/huge domain", method: handle, req: commandBytes(coverBytes(strings.Repeat("d", 3_900_000), root[:]), 1, 8), want: codes.InvalidArgument, mention: "domain"},
		{name: "Handle/NUL in domain", method: handle, req: commandBytes(coverBytes("ord\x00ers", root[:]), 1, 8), want: codes.InvalidArgument, mention: "domain"},
		{name: "Handle/space in domain", method: handle, req: commandBytes(coverBytes("my orders", root[:]), 1, 8), want: codes.InvalidArgument, mention: "domain"},
		{name: "Handle/wildcards in domain", method: handle, req: commandBytes(coverBytes("*>#", root[:]), 1, 8), want: codes.InvalidArgument, mention: "domain"},
		{name: "Handle/invalid UTF-8 domain", method: handle, req: commandBytes(coverBytes("ord\xff\xfeers", root[:]), 1, 8), want: codes.InvalidArgument},
		{name: "Handle/10,000 pages", method: handle, req: commandBytes(good, 10_000, 8), want: codes.InvalidArgument, mention: "pages"},
		{name: "Handle/oversized payload", method: handle, req: commandBytes(good, 1, 5<<20), want: codes.ResourceExhausted},
		{name: "Handle/truncated", method: handle, req: valid[:len(valid)-3], want: codes.InvalidArgument},
		{name: "Handle/garbage", method: handle, req: []byte("\xff\xff\xff\xff\x0fnot a protobuf message at all"), want: codes.InvalidArgument},
		{name: "Record/no cover", method: record, req: mustMarshal(t, &eventedpb.EventBook{Pages: []*eventedpb.EventPage{event}}), want: codes.InvalidArgument, mention: "cover"},
		{name: "Record/short root", method: record, req: mustMarshal(t, &eventedpb.EventBook{Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: []byte{1}}}, Pages: []*eventedpb.EventPage{event}}), want: codes.InvalidArgument, mention: "root"},
		{name: "Record/page without event", method: record, req: mustMarshal(t, &eventedpb.EventBook{Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}}, Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}}}}), want: codes.InvalidArgument, mention: "event"},
		{name: "Record/garbage", method: record, req: []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, want: codes.InvalidArgument},
		{name: "GetEvents/huge domain", method: "/evented.EventQuery/GetEvents", req: mustMarshal(t, &eventedpb.Query{Domain: strings.Repeat("q", 100_000), Root: &eventedpb.UUID{Value: root[:]}}), want: codes.InvalidArgument, mention: "domain"},
		{name: "GetEvents/short root", method: "/evented.EventQuery/GetEvents", req: mustMarshal(t, &eventedpb.Query{Domain: "orders", Root: &eventedpb.UUID{Value: []byte{9, 9}}}), want: codes.InvalidArgument, mention: "root"},
		{name: "GetEvents/garbage", method: "/evented.EventQuery/GetEvents", req: []byte("\x12\x80"), want: codes.InvalidArgument},
		{name: "ProjectorCoordinator/no cover", method: projector, req: mustMarshal(t, &eventedpb.EventBook{Pages: []*eventedpb.EventPage{event}}), want: codes.InvalidArgument, mention: "cover"},
		{name: "SagaCoordinator/no cover", method: saga, req: mustMarshal(t, &eventedpb.EventBook{Pages: []*eventedpb.EventPage{event}}), want: codes.InvalidArgument, mention: "cover"},
		{name: "ListParked/garbage", method: parked, req: []byte{0xff}, want: codes.InvalidArgument},
		{name: "ReplayParked/no subscriber", method: replay, req: mustMarshal(t, &emptypb.Empty{}), want: codes.InvalidArgument, mention: "subscriber"},
	}
	return cases
}

// invoke sends one raw request; streaming methods are read to their end.
func invoke(ctx context.Context, conn *grpc.ClientConn, c hostileCase) error {
	out := new([]byte)
	in := &c.req
	if strings.HasPrefix(c.method, "/evented.EventQuery/") || c.method == "/evented.DeliveryAdmin/ListParked" {
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, c.method, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			return err
		}
		if err := s.SendMsg(in); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := s.CloseSend(); err != nil {
			return err
		}
		for {
			if err := s.RecvMsg(out); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	return conn.Invoke(ctx, c.method, in, out, grpc.ForceCodec(rawCodec{}))
}

// TestHostileInputs sends every RPC what no well-behaved client sends and
// wants a clean code naming what is wrong, and a healthy server after.
func TestHostileInputs(t *testing.T) {
	srv, _ := start(t, config.Default())
	conns := map[string]*grpc.ClientConn{
		"cmd": dial(t, srv.CommandAddr()),
		"qry": dial(t, srv.QueryAddr()),
	}
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			conn := conns["cmd"]
			if strings.HasPrefix(c.method, "/evented.EventQuery/") {
				conn = conns["qry"]
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := invoke(ctx, conn, c)
			st := status.Convert(err)
			if st.Code() != c.want {
				t.Fatalf("%s: %v, want %s", c.method, err, c.want)
			}
			if c.mention != "" && !strings.Contains(strings.ToLower(st.Message()), c.mention) {
				t.Errorf("%s: message %q does not name %q", c.method, st.Message(), c.mention)
			}
			if len(st.Message()) > 1024 {
				t.Errorf("%s: message is %d bytes long (does it echo the request?)", c.method, len(st.Message()))
			}
		})
	}
	t.Run("HTTP/1 on the gRPC ports", func(t *testing.T) {
		for _, addr := range []string{srv.CommandAddr(), srv.QueryAddr()} {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			// The server answers something or closes; it must not hang
			// on to the connection and must not fall over.
			if _, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("%s: an HTTP/1 request held the connection open for 5s", addr)
				}
			}
			nc.Close()
		}
	})
	// Healthy after: a well-formed command goes through.
	assertServes(t, srv.CommandAddr())
}

func assertServes(t *testing.T, addr string) {
	t.Helper()
	root := uuid.New()
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, addr))
	if _, err := client.Handle(t.Context(), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddItem"}}},
	}); err != nil {
		t.Fatalf("a well-formed command after the hostile ones: %v", err)
	}
}

// TestHostileInputsDoNotGrowTheServer: 100,000 hostile requests (random
// invalid domains among them, which once became metric labels) leave the
// server's live heap within 20 MB of where it started.
func TestHostileInputsDoNotGrowTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := 100_000
	if raceEnabled {
		n = 20_000 // the race detector makes each call ~5x slower; the bound is the same
	}
	srv, _ := start(t, config.Default())
	conn := dial(t, srv.CommandAddr())
	small := []hostileCase{}
	for _, c := range hostileCases(t) {
		if len(c.req) < 4096 && !strings.Contains(c.name, "10,000") {
			small = append(small, c)
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	assertServes(t, srv.CommandAddr())
	before := heap()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				var c hostileCase
				if i%2 == 0 {
					// A new invalid domain every time.
					r := uuid.New()
					c = hostileCase{method: "/evented.BusinessCoordinator/Handle", req: commandBytes(coverBytes(fmt.Sprintf("no such domain %d", i), r[:]), 1, 8)}
				} else {
					c = small[i%len(small)]
				}
				if err := invoke(ctx, conn, c); ctx.Err() != nil {
					errs <- fmt.Errorf("after %d requests: %w (%v)", i, ctx.Err(), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	t.Logf("live heap: %d KiB before, %d KiB after %d hostile requests", before>>10, after>>10, n)
	if after > before+20<<20 {
		t.Errorf("live heap grew by %d MiB over %d hostile requests, want at most 20 MiB", (after-before)>>20, n)
	}
	assertServes(t, srv.CommandAddr())
}
