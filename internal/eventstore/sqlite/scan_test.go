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
	big := make([]byte, arenaMaxChunk)
	if c := a.copy(big); len(c) != arenaMaxChunk {
		t.Fatalf("big copy has %d bytes", len(c))
	}
}

func TestArenaChunksGrowWithTheRead(t *testing.T) {
	var a arena
	payload := make([]byte, 128)
	for range 10 {
		a.copy(payload)
	}
	if c := cap(a.buf); c > 4<<10 {
		t.Errorf("10 payloads of 128 bytes: chunk of %d bytes", c)
	}
	for range 10_000 {
		a.copy(payload)
	}
	if c := cap(a.buf); c != arenaMaxChunk {
		t.Errorf("after 10,000 payloads: chunk of %d bytes, want %d", c, arenaMaxChunk)
	}
}
