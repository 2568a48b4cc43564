package redis

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// FuzzRootMember checks that roots members decode to their cover and sort
// as Roots promises: by domain bytes, then root bytes.
func FuzzRootMember(f *testing.F) {
	f.Add("a", "a-b", byte(0), byte(0xff))
	f.Add("a", "a\x00", byte(0xff), byte(0))
	f.Add("a\x00b", "a\x00", byte(1), byte(1))
	f.Add("", "\x00", byte(0), byte(0))
	f.Fuzz(func(t *testing.T, d1, d2 string, r1, r2 byte) {
		a := eventstore.Cover{Domain: d1, Root: uuid.UUID{r1, 1}}
		b := eventstore.Cover{Domain: d2, Root: uuid.UUID{r2, 2}}
		for _, c := range []eventstore.Cover{a, b} {
			got, err := parseRootMember(rootMember(c))
			if err != nil || got != c {
				t.Fatalf("parseRootMember(rootMember(%q)) = %q, %v", c, got, err)
			}
		}
		want := cmp.Or(strings.Compare(a.Domain, b.Domain), bytes.Compare(a.Root[:], b.Root[:]))
		if got := strings.Compare(rootMember(a), rootMember(b)); got != want {
			t.Errorf("members of %q and %q compare %d; covers compare %d", a, b, got, want)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(string(encodeEvent(time.Unix(1, 2), "type.googleapis.com/x.Y", []byte("payload"), eventstore.Cause{}, 0)))
	f.Add(string(encodeEvent(time.Unix(1, 2), "type.googleapis.com/x.Y", []byte("payload"), testCause, 0)))
	f.Add(string(encodeEvent(time.Unix(1, 2), "t", nil, eventstore.Cause{CorrelationID: "c"}, 0)))
	f.Add(string(encodeEvent(time.Unix(1, 2), "t", []byte("p"), testCause, 70000)))
	f.Add("")
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff")
	f.Fuzz(func(t *testing.T, b string) {
		e, err := decodeEvent(3, b)
		if err != nil {
			return
		}
		// What decodes survives a round trip (lengths may be re-encoded
		// shorter: a non-minimal varint decodes too).
		again, err := decodeEvent(3, string(encodeEvent(e.CreatedAt, e.TypeURL, e.Payload, e.Cause, e.SchemaVersion)))
		if err != nil || !again.CreatedAt.Equal(e.CreatedAt) || again.TypeURL != e.TypeURL || !bytes.Equal(again.Payload, e.Payload) || again.Cause != e.Cause ||
			again.SchemaVersion != e.SchemaVersion {
			t.Errorf("%q decoded to %+v, which round-trips to %+v, %v", b, e, again, err)
		}
	})
}

var testCause = eventstore.Cause{
	CorrelationID: "corr", CommandID: "cmd",
	CausedBy: eventstore.EventRef{Cover: eventstore.Cover{Domain: "d", Root: uuid.UUID{1, 2, 3}}, Sequence: 300}, Depth: 5,
}

// TestEventEncodings checks that the encodings decode: version 1 (an
// event without a cause, as every event stored before causes were),
// version 2 (with one) and version 3 (with a schema version).
func TestEventEncodings(t *testing.T) {
	at := time.Unix(1, 2).UTC()
	v1 := "\x01" + string(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))) + "\x01tpayload"
	if got := string(encodeEvent(at, "t", []byte("payload"), eventstore.Cause{}, 0)); got != v1 {
		t.Errorf("an event without a cause encodes as %q; want version 1, %q", got, v1)
	}
	for _, version := range []uint32{0, 2, 70000} {
		for _, cause := range []eventstore.Cause{{}, testCause, {CorrelationID: "only"}} {
			b := string(encodeEvent(at, "t", []byte("payload"), cause, version))
			e, err := decodeEvent(4, b)
			if err != nil || e.Sequence != 4 || !e.CreatedAt.Equal(at) || e.TypeURL != "t" || string(e.Payload) != "payload" || e.Cause != cause ||
				e.SchemaVersion != version {
				t.Errorf("decodeEvent(encodeEvent(cause %+v, schema version %d)) = %+v, %v", cause, version, e, err)
			}
			for i := range len(b) - len("payload") {
				if _, err := decodeEvent(4, b[:i]); err == nil {
					t.Errorf("an event with cause %+v cut to %d of %d bytes decoded", cause, i, len(b))
				}
			}
		}
	}
}

func TestParkedRoundTrip(t *testing.T) {
	p := eventstore.Parked{
		Logged: eventstore.Logged{Position: 1 << 40, Cover: eventstore.Cover{Domain: "orders", Root: uuid.New()},
			Event: eventstore.Event{Sequence: 7, CreatedAt: time.Unix(5, 6).UTC(), TypeURL: "t", Payload: []byte("p"), Cause: testCause}},
		Reason: "boom", Attempts: 3, ParkedAt: time.Unix(7, 8).UTC(),
	}
	got, err := decodeParked(encodeParked(p))
	if err != nil || got.Position != p.Position || got.Cover != p.Cover || got.Sequence != p.Sequence ||
		!got.CreatedAt.Equal(p.CreatedAt) || got.TypeURL != p.TypeURL || string(got.Payload) != "p" ||
		got.Reason != p.Reason || got.Attempts != p.Attempts || !got.ParkedAt.Equal(p.ParkedAt) || got.Cause != p.Cause {
		t.Errorf("decodeParked(encodeParked(%+v)) = %+v, %v", p, got, err)
	}
	// Cut anywhere before its payload (the tail, of any length), it fails.
	b := encodeParked(p)
	for i := range len(b) - len(p.Payload) {
		if _, err := decodeParked(b[:i]); err == nil {
			t.Errorf("a parked event cut to %d of %d bytes decoded", i, len(b))
		}
	}
}
