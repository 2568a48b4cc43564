package sqlite

import (
	"testing"
	"time"
)

func TestParseTimeMatchesTimeParse(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 26, 10, 21, 42, 123456789, time.UTC),
		time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2030, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		got, err := parseTime([]byte(formatTime(at)))
		if err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Errorf("parseTime(%s) = %v, %v", formatTime(at), got, err)
		}
	}
	// Rows written by hand take the general path.
	got, err := parseTime([]byte("2026-11-26T11:21:42+01:00"))
	if err != nil || !got.Equal(time.Date(2026, 11, 26, 10, 21, 42, 0, time.UTC)) {
		t.Errorf("offset time: %v, %v", got, err)
	}
	if _, err := parseTime([]byte("2026-13-26T10:21:42.123456789Z")); err == nil {
		t.Error("month 13 accepted")
	}
}

func TestArenaCopiesDoNotAlias(t *testing.T) {
	var a arena
	src := []byte("abc")
	x := a.copy(src)
	src[0] = 'z'
	y := a.copy([]byte("def"))
	y = append(y, '!') // must not overwrite anything x or a later copy owns
	z := a.copy([]byte("ghi"))
	if string(x) != "abc" || string(z) != "ghi" || string(y) != "def!" {
		t.Fatalf("x=%q y=%q z=%q", x, y, z)
	}
	big := make([]byte, arenaChunk)
	if c := a.copy(big); len(c) != arenaChunk {
		t.Fatalf("big copy has %d bytes", len(c))
	}
}
