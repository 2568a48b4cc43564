package grpcapi

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	why := fmt.Sprintf("the request is not a valid %s message (%d bytes)", proto.MessageName(m), data.Len())
	if field := where(m.ProtoReflect().Descriptor(), data.Materialize(), "", 0); field != "" {
		why += ": " + field
	}
	mark(m, fmt.Sprintf("%s: %v", why, err))
	return nil
}

// where names the field at which b stops being a valid md, as a client
// would write it (pages[2].event.type_url): a field whose value is cut
// short, a string that is not UTF-8, or one inside a nested message. It
// returns "" when it cannot tell (the bytes go wrong between fields).
func where(md protoreflect.MessageDescriptor, b []byte, prefix string, depth int) string {
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return prefix
		}
		b = b[n:]
		name := fmt.Sprintf("field %d", num)
		fd := md.Fields().ByNumber(num)
		if fd != nil {
			name = string(fd.Name())
			if fd.IsList() {
				name = fmt.Sprintf("%s[%d]", name, seen[num])
				seen[num]++
			}
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return name
		}
		if fd != nil && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[:n])
			switch {
			case fd.Kind() == protoreflect.StringKind && !utf8.Valid(v):
				return name
			case fd.Kind() == protoreflect.MessageKind && depth < maxWhereDepth:
				if at := where(fd.Message(), v, name, depth+1); at != "" {
					return at
				}
			}
		}
		b = b[n:]
	}
	return ""
}

// maxWhereDepth bounds where's recursion, as protobuf bounds nesting.
const maxWhereDepth = 100

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
