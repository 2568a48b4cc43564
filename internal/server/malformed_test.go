package server_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// rawCodec sends and receives messages as the bytes they are, so a test
// can send what no protobuf library would produce.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// Bytes that are not protobuf, sent as a unary request and as a server
// stream's request, are INVALID_ARGUMENT naming the message type, not
// INTERNAL, and the server serves on.
func TestMalformedRequestsAreInvalidArgument(t *testing.T) {
	srv, _ := start(t, config.Default())
	cmd, qry := dial(t, srv.CommandAddr()), dial(t, srv.QueryAddr())
	// A valid book whose second page's type URL is then made invalid UTF-8.
	book, err := proto.Marshal(&eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: make([]byte, 16)}},
		Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "t"}}, {Event: &anypb.Any{TypeUrl: "<>"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	book = bytes.Replace(book, []byte("<>"), []byte{0xc3, 0x28}, 1)
	for _, tc := range []struct {
		name   string
		conn   *grpc.ClientConn
		method string
		stream bool
		msg    []byte
		want   string
	}{
		// A field 1 (cover) of wire type 2 whose length runs past the end.
		{"truncated", cmd, "/evented.BusinessCoordinator/Handle", false, []byte{0x0a, 0x7f, 0x01}, "evented.CommandBook message (3 bytes): cover:"},
		{"garbage", cmd, "/evented.BusinessCoordinator/Record", false, []byte("\xff\xff\xff\xff\xff garbage"), "evented.EventBook"},
		{"nested invalid UTF-8", cmd, "/evented.BusinessCoordinator/Record", false, book, "evented.EventBook message (47 bytes): pages[1].event.type_url: string field contains invalid UTF-8"},
		// Field 1 (domain) holding invalid UTF-8.
		{"invalid UTF-8", qry, "/evented.EventQuery/GetEvents", true, []byte{0x0a, 0x02, 0xc3, 0x28}, "evented.Query message (4 bytes): domain:"},
		{"group end", qry, "/evented.EventQuery/GetAggregateRoots", true, []byte{0x0c}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.stream {
				var s grpc.ClientStream
				s, err = tc.conn.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true}, tc.method, grpc.ForceCodec(rawCodec{}))
				if err == nil {
					if err = s.SendMsg(&tc.msg); err == nil {
						s.CloseSend()
						var out []byte
						for i := 0; i < 100 && err == nil; i++ {
							err = s.RecvMsg(&out)
						}
					}
				}
			} else {
				var out []byte
				err = tc.conn.Invoke(t.Context(), tc.method, &tc.msg, &out, grpc.ForceCodec(rawCodec{}))
			}
			st := status.Convert(err)
			if err == io.EOF || st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "not a valid") || !strings.Contains(st.Message(), tc.want) {
				t.Fatalf("%s with %q: %v; want INVALID_ARGUMENT saying the request is not a valid %s", tc.method, tc.msg, err, tc.want)
			}
			t.Logf("%s: %s", tc.method, st.Message())
		})
	}
	// Still serving.
	if _, err := eventedpb.NewBusinessCoordinatorClient(cmd).Handle(t.Context(), newCommand("customer")); err != nil {
		t.Fatalf("Handle after malformed requests: %v", err)
	}
}
