package redis_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/redis"
)

// An append is all or nothing even when a key the script writes was
// evicted, deleted or replaced: the script checks every write's
// precondition before the first, so it never stores an event without its
// log entry (or its root); a lost key is eventstore.ErrDataLoss.
func TestAppendIsAllOrNothingWhenAKeyWasEvicted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		break_   func(t *testing.T, prefix string, c eventstore.Cover)
		dataLoss bool
	}{
		{"position counter evicted", func(t *testing.T, p string, _ eventstore.Cover) { del(t, p+"position") }, true},
		{"position counter not a number", func(t *testing.T, p string, _ eventstore.Cover) { set(t, p+"position", "x") }, true},
		{"events list evicted", func(t *testing.T, p string, c eventstore.Cover) {
			del(t, p+"events:"+c.Domain+":"+hex.EncodeToString(c.Root[:]))
		}, true},
		{"events list of the wrong type", func(t *testing.T, p string, c eventstore.Cover) {
			set(t, p+"events:"+c.Domain+":"+hex.EncodeToString(c.Root[:]), "x")
		}, false},
		{"roots of the wrong type", func(t *testing.T, p string, _ eventstore.Cover) { del(t, p+"roots"); set(t, p+"roots", "x") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := freshPrefix(t)
			s := open(t, url)
			prefix := s.Prefix()
			cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
			if _, err := s.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "t", Payload: []byte("0")}}); err != nil {
				t.Fatal(err)
			}
			tc.break_(t, prefix, cover)
			before := snapshot(t, prefix, cover)
			for _, keyed := range []bool{false, true} {
				var err error
				pages := []eventstore.Page{{TypeURL: "t", Payload: []byte("1")}, {TypeURL: "t", Payload: []byte("2")}}
				if keyed {
					_, _, err = s.AppendKeyed(t.Context(), cover, pages, eventstore.Key{ID: uuid.NewString(), TTL: 60e9})
				} else {
					_, err = s.Append(t.Context(), cover, pages)
				}
				if err == nil {
					t.Fatalf("append (keyed %v) after %s succeeded; want it refused", keyed, tc.name)
				}
				if tc.dataLoss && !errors.Is(err, eventstore.ErrDataLoss) {
					t.Errorf("append (keyed %v): %v; want ErrDataLoss", keyed, err)
				}
				t.Logf("append (keyed %v): %v", keyed, err)
				if after := snapshot(t, prefix, cover); after != before {
					t.Fatalf("append (keyed %v) failed but changed the store:\nbefore %+v\nafter  %+v", keyed, before, after)
				}
			}
			// In a group, each append is refused: the checks the group
			// makes once are not skipped after one failed.
			fired := eventstore.Deadline{ID: "fired", Due: time.Now(), Cover: cover, Key: "k"}
			if err := s.Schedule(t.Context(), []eventstore.Deadline{fired}); err != nil {
				t.Fatal(err)
			}
			res := s.AppendGroup(t.Context(), []eventstore.GroupAppend{
				{Cover: cover, Pages: []eventstore.Page{{TypeURL: "t", Payload: []byte("1")}}, Key: &eventstore.Key{ID: uuid.NewString(), TTL: 60e9}, Fired: &fired},
				{Cover: cover, Pages: []eventstore.Page{{TypeURL: "t", Payload: []byte("2")}}},
			})
			for i, r := range res {
				if r.Err == nil || r.Removed || (tc.dataLoss && !errors.Is(r.Err, eventstore.ErrDataLoss)) {
					t.Errorf("append %d of a group: removed %v, %v; want ErrDataLoss", i, r.Removed, r.Err)
				}
			}
			if after := snapshot(t, prefix, cover); after != before {
				t.Fatalf("the group failed but changed the store:\nbefore %+v\nafter  %+v", before, after)
			}
			if due, err := s.DueDeadlines(t.Context(), 0, 1, time.Now(), 10); err != nil || len(due) != 1 {
				t.Fatalf("the fired deadline: %d pending, %v; want it left pending", len(due), err)
			}
		})
	}
}

// state is what an append writes: the cover's events, the log, the
// counter, the roots.
type state struct {
	Events, Log int64
	Position    string
	Roots       string
}

func snapshot(t *testing.T, prefix string, c eventstore.Cover) state {
	t.Helper()
	a := admin(t)
	ctx := t.Context()
	var st state
	st.Events, _ = a.LLen(ctx, prefix+"events:"+c.Domain+":"+hex.EncodeToString(c.Root[:])).Result()
	st.Log, _ = a.XLen(ctx, prefix+"log").Result()
	st.Position, _ = a.Get(ctx, prefix+"position").Result()
	typ, err := a.Type(ctx, prefix+"roots").Result()
	if err != nil {
		t.Fatal(err)
	}
	st.Roots = typ
	if typ == "zset" {
		n, _ := a.ZCard(ctx, prefix+"roots").Result()
		st.Roots += string(rune('0' + n))
	}
	return st
}

func del(t *testing.T, key string) {
	t.Helper()
	if err := admin(t).Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
}

func set(t *testing.T, key, value string) {
	t.Helper()
	if err := admin(t).Set(t.Context(), key, value, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// After an OOM refusal the store reports itself full until Redis uses
// less than maxmemory (the test server has no maxmemory: room at once).
func TestFullUntilRedisHasRoom(t *testing.T) {
	s := open(t, freshPrefix(t))
	redis.MarkFull(s)
	if err := s.CheckSpace(t.Context()); err != nil {
		t.Fatalf("CheckSpace of a Redis with room: %v", err)
	}
	info := "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:1048576\r\n"
	if used, limit := redis.InfoField(info, "used_memory"), redis.InfoField(info, "maxmemory"); used != 1<<20 || limit != 1<<20 {
		t.Fatalf("used_memory %d, maxmemory %d; want 1048576 each", used, limit)
	}
}
