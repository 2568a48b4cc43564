// Package eventlog is the projector behind the example log projectors
// (projector-log-customer, projector-log-transaction): one structured log
// line per event, written as JSON to the logger it is given.
//
// Every example language writes the same line, one JSON object per line on
// standard output, with at least these keys:
//
//	{"msg":"event","projector":"log-customer","domain":"customer",
//	 "root":"bee85a38-babe-5251-8d7d-f8a8ed93ed9c","sequence":0,
//	 "type":"examples.CustomerCreated","event":{"name":"Alice",...}}
//
// ("event" is the event in protobuf's JSON form, when its type is known.)
package eventlog

import (
	"context"
	"encoding/json"
	"log/slog"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// The example domain's messages, linked in so that events are logged
	// field by field rather than as bytes.
	_ "github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// New returns the projector called name that logs every event it is
// delivered to out. It keeps no state and is called asynchronously,
// without history, so each event is logged once per delivery (at least
// once).
func New(name string, out *slog.Logger, opts ...sdk.Option) *sdk.Projector[struct{}] {
	p := sdk.NewProjector[struct{}](name, opts...)
	p.OnAny(func(_ *struct{}, e proto.Message, ev sdk.Event) error {
		attrs := []slog.Attr{
			slog.String("projector", name),
			slog.String("domain", ev.Cover.Domain),
			slog.String("root", ev.Cover.Root.String()),
			slog.Uint64("sequence", uint64(ev.Sequence)),
		}
		if a, ok := e.(*anypb.Any); ok { // a type this program does not know
			attrs = append(attrs, slog.String("type", string(a.MessageName())), slog.Int("bytes", len(a.GetValue())))
		} else {
			attrs = append(attrs, slog.String("type", string(e.ProtoReflect().Descriptor().FullName())))
			if js, err := protojson.Marshal(e); err == nil {
				attrs = append(attrs, slog.Any("event", json.RawMessage(js)))
			}
		}
		out.LogAttrs(context.Background(), slog.LevelInfo, "event", attrs...)
		return nil
	})
	return p
}
