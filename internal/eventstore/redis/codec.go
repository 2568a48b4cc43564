package redis

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// keys names every key of one store: all begin with the prefix.
type keys struct{ prefix string }

// events is the list of cover's events, index = sequence. The root is the
// last 32 characters, so a domain containing ':' cannot make two covers
// share a key.
func (k keys) events(c eventstore.Cover) string {
	return k.prefix + "events:" + c.Domain + ":" + hex.EncodeToString(c.Root[:])
}

func (k keys) snapshot(c eventstore.Cover) string {
	return k.prefix + "snapshot:" + c.Domain + ":" + hex.EncodeToString(c.Root[:])
}

// olderSnapshots holds the snapshots kept beside the latest (snapshot).
func (k keys) olderSnapshots(c eventstore.Cover) string {
	return k.prefix + "snapshots-older:" + c.Domain + ":" + hex.EncodeToString(c.Root[:])
}

func (k keys) position() string    { return k.prefix + "position" }
func (k keys) log() string         { return k.prefix + "log" }
func (k keys) roots() string       { return k.prefix + "roots" }
func (k keys) checkpoints() string { return k.prefix + "checkpoints" }
func (k keys) appended() string    { return k.prefix + "appended" }

func (k keys) parked(subscriber string) string { return k.prefix + "parked:" + subscriber }
func (k keys) key(id string) string            { return k.prefix + "key:" + id }

func (k keys) segments(subscriber string) string { return k.prefix + "segments:" + subscriber }
func (k keys) members() string                   { return k.prefix + "members" }
func (k keys) marks(subscriber string) string    { return k.prefix + "marks:" + subscriber }

func (k keys) deadlines() string    { return k.prefix + "deadlines" }
func (k keys) deadlineKeys() string { return k.prefix + "deadline-keys" }
func (k keys) deadlineSlot(slot int) string {
	return k.prefix + "deadlines:" + strconv.Itoa(slot)
}

// rootMember is cover's member in the roots sorted set, whose byte order
// (ZRANGE BYLEX) is the order Roots promises: domain, then root bytes. The
// domain is escaped (0x00 → 0x00 0xFF) and ends with 0x00 0x00, so that a
// domain sorts before every longer domain it is a prefix of.
func rootMember(c eventstore.Cover) string {
	b := make([]byte, 0, len(c.Domain)+2+len(c.Root))
	for i := range len(c.Domain) {
		b = append(b, c.Domain[i])
		if c.Domain[i] == 0 {
			b = append(b, 0xff)
		}
	}
	b = append(b, 0, 0)
	return string(append(b, c.Root[:]...))
}

func parseRootMember(m string) (eventstore.Cover, error) {
	var c eventstore.Cover
	var domain []byte
	for i := 0; i < len(m); i++ {
		if m[i] != 0 {
			domain = append(domain, m[i])
			continue
		}
		if i+1 < len(m) && m[i+1] == 0xff {
			domain = append(domain, 0)
			i++
			continue
		}
		if i+2+len(c.Root) != len(m) || m[i+1] != 0 {
			break
		}
		c.Domain = string(domain)
		copy(c.Root[:], m[i+2:])
		return c, nil
	}
	return c, fmt.Errorf("malformed roots member %q", m)
}

// The versions of the encoding of a stored event, its first byte, so that
// it can change. Version 1 is an event without a cause (every event stored
// before there were causes); version 2 carries one; version 3 carries one
// (possibly empty) and the payload's schema version.
const (
	eventVersion       = 1
	eventVersionCause  = 2
	eventVersionSchema = 3
)

// encodeEvent is the list element of an event: version, created_at in Unix
// nanoseconds, the type URL with its length, the cause (versions 2 and 3),
// the schema version (version 3 only, a uvarint), then the payload. The
// sequence is the element's index.
//
// The cause is: correlation id and command id (each a uvarint length and
// the bytes), a byte 1 when it has a triggering event followed by its
// domain (length and bytes), root (16 bytes) and sequence (uvarint), or a
// byte 0, then the depth (uvarint).
func encodeEvent(at time.Time, typeURL string, payload []byte, cause eventstore.Cause, schemaVersion uint32) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(typeURL)+len(payload))
	version := byte(eventVersion)
	switch {
	case schemaVersion > 0:
		version = eventVersionSchema
	case !cause.IsZero():
		version = eventVersionCause
	}
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = appendString(b, typeURL)
	if version >= eventVersionCause {
		b = appendString(b, cause.CorrelationID)
		b = appendString(b, cause.CommandID)
		if by := cause.CausedBy; by.IsZero() {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendString(b, by.Cover.Domain)
			b = append(b, by.Cover.Root[:]...)
			b = binary.AppendUvarint(b, uint64(by.Sequence))
		}
		b = binary.AppendUvarint(b, uint64(cause.Depth))
	}
	if version == eventVersionSchema {
		b = binary.AppendUvarint(b, uint64(schemaVersion))
	}
	return append(b, payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errMalformed = errors.New("malformed stored event")

// decodeEvent decodes a list element as go-redis returns it, a string, so
// that the payload is copied once.
func decodeEvent(seq uint32, b string) (eventstore.Event, error) {
	if len(b) < 9 || b[0] < eventVersion || b[0] > eventVersionSchema {
		return eventstore.Event{}, errMalformed
	}
	at := int64(binary.BigEndian.Uint64([]byte(b[1:9])))
	e := eventstore.Event{Sequence: seq, CreatedAt: time.Unix(0, at).UTC()}
	d := decoder{rest: b[9:]}
	e.TypeURL = d.string()
	if b[0] >= eventVersionCause {
		e.Cause.CorrelationID = d.string()
		e.Cause.CommandID = d.string()
		switch d.byte() {
		case 0:
		case 1:
			e.Cause.CausedBy.Cover.Domain = d.string()
			copy(e.Cause.CausedBy.Cover.Root[:], d.bytes(16))
			e.Cause.CausedBy.Sequence = uint32(d.uvarint(math.MaxUint32))
		default:
			d.bad = true
		}
		e.Cause.Depth = uint32(d.uvarint(math.MaxUint32))
	}
	if b[0] == eventVersionSchema {
		e.SchemaVersion = uint32(d.uvarint(math.MaxUint32))
	}
	if d.bad {
		return eventstore.Event{}, errMalformed
	}
	e.Payload = []byte(d.rest)
	return e, nil
}

// decoder reads the parts of an encoded event from a string; a part that
// is not there sets bad and reads as zero.
type decoder struct {
	rest string
	bad  bool
}

func (d *decoder) uvarint(limit uint64) uint64 {
	var n uint64
	for k, shift := 0, 0; ; k, shift = k+1, shift+7 { // binary.Uvarint, on a string
		if k >= len(d.rest) || shift > 63 {
			d.bad = true
			return 0
		}
		c := d.rest[k]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			d.rest = d.rest[k+1:]
			break
		}
	}
	if n > limit {
		d.bad = true
		return 0
	}
	return n
}

func (d *decoder) bytes(n int) string {
	if d.bad || len(d.rest) < n {
		d.bad = true
		return ""
	}
	s := d.rest[:n]
	d.rest = d.rest[n:]
	return s
}

func (d *decoder) string() string {
	n := d.uvarint(uint64(len(d.rest)))
	return d.bytes(int(n))
}

func (d *decoder) byte() byte {
	if b := d.bytes(1); b != "" {
		return b[0]
	}
	return 0
}

// encodeParked is a parked event's hash value: its reason, attempts and
// time, its cover and position, then the event as encodeEvent stores it.
func encodeParked(p eventstore.Parked) []byte {
	b := binary.AppendUvarint(nil, uint64(len(p.Reason)))
	b = append(b, p.Reason...)
	b = binary.AppendUvarint(b, uint64(p.Attempts))
	b = binary.BigEndian.AppendUint64(b, uint64(p.ParkedAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, p.Position)
	b = binary.AppendUvarint(b, uint64(len(p.Cover.Domain)))
	b = append(b, p.Cover.Domain...)
	b = append(b, p.Cover.Root[:]...)
	b = binary.BigEndian.AppendUint32(b, p.Sequence)
	return append(b, encodeEvent(p.CreatedAt, p.TypeURL, p.Payload, p.Cause, p.SchemaVersion)...)
}

func decodeParked(b []byte) (eventstore.Parked, error) {
	var p eventstore.Parked
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	var ok bool
	if p.Reason, ok = str(); !ok {
		return p, errMalformed
	}
	attempts, k := binary.Uvarint(b)
	if k <= 0 || len(b) < k+16 {
		return p, errMalformed
	}
	p.Attempts = int(attempts)
	p.ParkedAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[k:]))).UTC()
	p.Position = binary.BigEndian.Uint64(b[k+8:])
	b = b[k+16:]
	if p.Cover.Domain, ok = str(); !ok || len(b) < len(p.Cover.Root)+4 {
		return p, errMalformed
	}
	p.Cover.Root = uuid.UUID(b[:16])
	seq := binary.BigEndian.Uint32(b[16:])
	e, err := decodeEvent(seq, string(b[20:]))
	p.Event = e
	return p, err
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }

// Raw names the keys a store at a URL keeps its events, snapshots and log
// under (the layout in redis.go), for the benchmark's raw floors, which
// read them with plain commands; URL is the server's URL as go-redis takes
// it (without evented's prefix parameter).
type Raw struct {
	URL string
	k   keys
}

// RawKeys is Raw for the store at rawURL.
func RawKeys(rawURL string) (Raw, error) {
	u, prefix, err := splitPrefix(rawURL)
	return Raw{URL: u, k: keys{prefix}}, err
}

// Events is the list of cover's events (index = sequence; each item as
// encodeEvent writes it).
func (r Raw) Events(c eventstore.Cover) string { return r.k.events(c) }

// Snapshot is the hash of cover's latest snapshot.
func (r Raw) Snapshot(c eventstore.Cover) string { return r.k.snapshot(c) }

// Log is the stream of log entries (ID "<position>-0"; d, r, s: the
// event's domain, root and sequence).
func (r Raw) Log() string { return r.k.log() }
