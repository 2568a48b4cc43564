package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Space = (*Store)(nil)

// CheckSpace implements eventstore.Space. After a write was refused at
// maxmemory (an OOM reply), it asks Redis, each time it is called, how
// much memory it uses (INFO memory), until it is below maxmemory again;
// until then it returns an error matching eventstore.ErrFull.
func (s *Store) CheckSpace(ctx context.Context) error {
	if !s.full.Load() {
		return nil
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	info, err := s.c.Info(ctx, "memory").Result()
	if err != nil {
		return s.fail(err, "space probe")
	}
	used, limit := infoField(info, "used_memory"), infoField(info, "maxmemory")
	if limit > 0 && used >= limit {
		return eventstore.Full(fmt.Errorf("redis: used_memory %d of maxmemory %d", used, limit))
	}
	s.full.Store(false)
	return nil
}

// infoField is the number of an INFO reply's field; 0 when missing.
func infoField(info, name string) int64 {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
