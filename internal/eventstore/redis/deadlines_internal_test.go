package redis

import (
	"encoding/json"
	"reflect"
	"testing"
)

// parseRecord reads what json.Marshal writes exactly as encoding/json
// does, and declines (ok false) anything it does not read the same way.
func TestParseRecordAgreesWithEncodingJSON(t *testing.T) {
	for _, r := range recordSeeds(t) {
		checkRecord(t, r)
	}
	// The record Schedule writes for an ordinary deadline takes the fast
	// path.
	b, _ := json.Marshal(deadlineJSON{Due: 1, Domain: "shop", Root: "r", Command: []byte("c"), Key: "deadline:x:y", Created: 2})
	if _, ok := parseRecord(string(b)); !ok {
		t.Errorf("%s: not parsed", b)
	}
}

// FuzzParseRecord checks parseRecord against encoding/json on any input.
func FuzzParseRecord(f *testing.F) {
	for _, r := range recordSeeds(f) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, r string) { checkRecord(t, r) })
}

// checkRecord fails t when parseRecord reads r otherwise than
// encoding/json does.
func checkRecord(t *testing.T, r string) {
	got, ok := parseRecord(r)
	var want deadlineJSON
	err := json.Unmarshal([]byte(r), &want)
	switch {
	case ok && err != nil:
		t.Errorf("%q: parsed as %+v, but encoding/json refuses it: %v", r, got, err)
	case ok && !reflect.DeepEqual(got, want):
		t.Errorf("%q: parsed as %+v, encoding/json reads %+v", r, got, want)
	}
}

// recordSeeds are records as json.Marshal writes them, odd ones among
// them, and records it would not write.
func recordSeeds(t testing.TB) []string {
	var records []string
	for _, j := range []deadlineJSON{
		{Due: 1_700_000_000_123_456_789, Domain: "shop", Root: "0b4f6f7e-5d0c-4d9e-8f6a-1c2d3e4f5a6b", Command: []byte("\x00\x01cmd\xff"), Key: "deadline:a:b", Created: 1},
		{Due: -5, Domain: "", Root: "", Command: []byte{}, Key: "", Created: 0},
		{Due: 1, Domain: `quo"te`, Root: `back\slash`, Command: nil, Key: "<html>&", Created: -1},
		{Due: 2, Domain: "ünïcode", Root: "tab\there", Command: []byte("x"), Key: "k\u2028", Created: 3},
	} {
		b, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, string(b))
	}
	return append(records,
		`{"d":1.5,"m":"a","r":"b","c":"","k":"k","t":1}`,
		`{"d":1,"m":"a","r":"b","c":"!!","k":"k","t":1}`,
		`{"d":1,"m":"a","r":"b","c":"","k":"k","t":1} `,
		`{"d":1,"m":"a`+"\x01"+`","r":"b","c":"","k":"k","t":1}`,
		`{"d":1,"m":"a`+"\xff"+`","r":"b","c":"","k":"k","t":1}`,
		`{"m":"a","d":1,"r":"b","c":"","k":"k","t":1}`,
		`{"d":,"m":"a","r":"b","c":"","k":"k","t":1}`,
		`{"d":1,"m":"a","r":"b","c":"","k":"k","t":1`,
	)
}
