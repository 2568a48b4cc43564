package cli

import (
	"strings"
	"testing"

	"github.com/evented/evented/internal/protoview"
)

// TestReceiptTextPrintedAsLines: a projection's string field of several
// lines (the example receipt's formatted_text) prints as those lines under
// the JSON of the other fields, not escaped into one line.
func TestReceiptTextPrintedAsLines(t *testing.T) {
	agg, err := newAggregate("transaction", "txn-1")
	if err != nil {
		t.Fatal(err)
	}
	v := protoview.Reply{Projections: []protoview.Projection{{Projector: "receipt", Sequence: 3, Payload: protoview.Payload{
		Type: "examples.Receipt",
		JSON: []byte(`{"transaction_id":"t-1","final_total_cents":4050,"formatted_text":"Receipt for transaction t-1\nTotal: $40.50\n","note":"one line\n"}`),
	}}}}
	var out strings.Builder
	if err := writeReply(&out, agg, v); err != nil {
		t.Fatal(err)
	}
	want := "projection by receipt (at sequence 3): examples.Receipt " +
		`{"transaction_id":"t-1","final_total_cents":4050,"note":"one line\n"}` + "\n" +
		"  formatted_text:\n" +
		"    Receipt for transaction t-1\n" +
		"    Total: $40.50\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("got:\n%s\nwant it to contain:\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), `\nTotal`) {
		t.Errorf("the receipt's text is escaped into one line:\n%s", out.String())
	}
}

func TestTextBlocksLeavesOtherJSONWhole(t *testing.T) {
	for _, js := range []string{`[1,2]`, `"a\nb\nc"`, `{"a":1}`, `{}`, `not json`} {
		if line, blocks := textBlocks([]byte(js)); line != js || blocks != nil {
			t.Errorf("textBlocks(%s) = %q, %q; want it whole", js, line, blocks)
		}
	}
}
