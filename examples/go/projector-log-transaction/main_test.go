package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

func TestLogsEachEvent(t *testing.T) {
	var buf bytes.Buffer
	out := slog.New(slog.NewJSONHandler(&buf, nil))
	sdktest.Projector(t, func(o ...sdk.Option) *sdk.Projector[struct{}] { return New(out, o...) }).
		For("transaction", "transaction-1").
		When(&examplespb.TransactionCreated{CustomerId: "c", SubtotalCents: 4500}).
		ThenHandled()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	if line["projector"] != "log-transaction" || line["domain"] != "transaction" || line["type"] != "examples.TransactionCreated" ||
		line["root"] != sdk.Root("transaction-1").String() || line["sequence"] != 0.0 {
		t.Errorf("line %v", line)
	}
}
