package grpcapi

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// codec is the server's protobuf codec: gRPC's own, except that a request
// that does not decode is reported to the client as INVALID_ARGUMENT
// naming the message type, not as INTERNAL ("a bug in evented"), which is
// what gRPC makes of any codec error.
//
// gRPC turns every error of Unmarshal into INTERNAL, so the codec does not
// return one: it resets the message, marks it as malformed (an unknown
// field holding the error, see mark) and returns nil. The interceptors
// (Interceptors) look for the mark before the handler sees the request and
// answer INVALID_ARGUMENT. The mark lives in the message itself, so a
// request that an earlier interceptor turns away (authentication) leaves
// nothing behind.
type codec struct{ encoding.CodecV2 }

// Name is the codec's content subtype: it replaces the proto codec.
func (codec) Name() string { return grpcproto.Name }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	mark(m, fmt.Sprintf("the request is not a valid %s message (%d bytes): %v", proto.MessageName(m), data.Len(), err))
	return nil
}

// markField and markPrefix make the mark: the highest field number
// protobuf allows, holding the prefix and the error's text.
const (
	markField  = protowire.Number(1<<29 - 1)
	markPrefix = "\x00evented: malformed request\x00"
)

// mark records why m did not decode, as an unknown field of m.
func mark(m proto.Message, why string) {
	b := protowire.AppendTag(nil, markField, protowire.BytesType)
	m.ProtoReflect().SetUnknown(protowire.AppendString(b, markPrefix+why))
}

// decodeError returns the INVALID_ARGUMENT error of a request the codec
// marked as malformed; nil for a request that decoded.
func decodeError(req any) error {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return nil
	}
	b := m.ProtoReflect().GetUnknown()
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != markField || typ != protowire.BytesType {
		return nil
	}
	v, n := protowire.ConsumeString(b[n:])
	if n < 0 || !strings.HasPrefix(v, markPrefix) {
		return nil
	}
	return status.Error(codes.InvalidArgument, strings.TrimPrefix(v, markPrefix))
}

// newCodec wraps gRPC's registered proto codec.
func newCodec() encoding.CodecV2 {
	base := encoding.GetCodecV2(grpcproto.Name)
	if base == nil {
		panic(fmt.Sprintf("grpcapi: no %q codec registered", grpcproto.Name))
	}
	return codec{base}
}
