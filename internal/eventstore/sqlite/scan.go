package sqlite

import (
	"time"
)

// parseTime reads a created_at written by formatTime
// ("2026-11-26T10:21:42.123456789Z") without time.Parse's generality: loads
// of long streams spend most of their time here otherwise. Anything else
// (a row written by hand in the sqlite3 shell, say) goes to time.Parse.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == len(timeFormat)-len("Z07:00")+1 && b[4] == '-' && b[7] == '-' && b[10] == 'T' &&
		b[13] == ':' && b[16] == ':' && b[19] == '.' && b[29] == 'Z' {
		year, ok1 := digits(b[0:4])
		month, ok2 := digits(b[5:7])
		day, ok3 := digits(b[8:10])
		hour, ok4 := digits(b[11:13])
		minute, ok5 := digits(b[14:16])
		sec, ok6 := digits(b[17:19])
		nsec, ok7 := digits(b[20:29])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && month >= 1 && month <= 12 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
		}
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// arena hands out copies of scanned bytes from shared chunks, so a read of
// many events makes a few allocations instead of one per payload. Chunks
// start small and double up to arenaMaxChunk: a short read (the few events
// after a snapshot, before every command) must not pay for, nor leave the
// GC, a chunk sized for a long one. Copies are never written to again; they
// stay valid as long as any is used.
type arena struct{ buf []byte }

const (
	arenaMinChunk = 1 << 10
	arenaMaxChunk = 64 << 10
)

func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	if len(b) > arenaMaxChunk/4 {
		return append([]byte(nil), b...)
	}
	if len(a.buf)+len(b) > cap(a.buf) {
		a.buf = make([]byte, 0, min(max(2*cap(a.buf), 4*len(b), arenaMinChunk), arenaMaxChunk))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// interner returns one string per distinct type URL of a read: streams
// repeat a handful of types over and over.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	in[s] = s
	return s
}
