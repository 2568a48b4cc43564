package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.BookLoader = (*Store)(nil)

// coversPerQuery bounds the covers one LoadBooks query names (three
// variables each, well within SQLite's limit).
const coversPerQuery = 512

// sizedStmts keeps the statements that name many rows (a VALUES list),
// prepared once per size class: parsing a statement of a hundred rows
// costs more than running it. A list is padded up to its class (a power
// of two, at least 8) with rows that match nothing, so that a few
// statements serve every size.
type sizedStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// sizeClass is the number of rows a list of n is padded to.
func sizeClass(n int) int {
	c := 8
	for c < n {
		c *= 2
	}
	return c
}

// get returns query prepared on db, preparing it at its first use.
func (c *sizedStmts) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// valuesList is a VALUES list of rows rows of row (a parenthesized tuple).
func valuesList(row string, rows int) string {
	return strings.Repeat(row+", ", rows-1) + row
}

// LoadBooks implements eventstore.BookLoader: per 500 covers, one query for
// their latest snapshots and one for the events after them, each a join
// of a VALUES list with the primary key, so that a thousand aggregates cost
// two statements, not two thousand.
func (s *Store) LoadBooks(ctx context.Context, covers []eventstore.Cover) ([]eventstore.Book, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	out := make([]eventstore.Book, len(covers))
	for start := 0; start < len(covers); start += coversPerQuery {
		part := covers[start:min(start+coversPerQuery, len(covers))]
		if err := s.loadBooks(ctx, part, out[start:start+len(part)]); err != nil {
			return nil, s.fail(err, "load %d aggregates", len(part))
		}
	}
	return out, nil
}

type coverKey struct{ domain, root string }

func (s *Store) loadBooks(ctx context.Context, covers []eventstore.Cover, out []eventstore.Book) error {
	at := make(map[coverKey][]int, len(covers)) // a cover named twice gets its book twice
	for i, c := range covers {
		out[i] = eventstore.Book{Cover: c}
		k := coverKey{c.Domain, c.Root.String()}
		at[k] = append(at[k], i)
	}
	// The padding rows name the domain "", which no event has.
	class := sizeClass(len(at))
	args := make([]any, 0, 3*class)
	for k := range at {
		args = append(args, k.domain, k.root)
	}
	for range class - len(at) {
		args = append(args, "", "")
	}
	snaps, err := s.sized.get(ctx, s.r, `WITH w(d, a) AS (VALUES `+valuesList("(?, ?)", class)+`)
		SELECT s.domain, s.aggregate_id, s.sequence, s.type_url, s.state, s.created_at FROM w JOIN snapshots s
		ON s.domain = w.d AND s.aggregate_id = w.a
		AND s.sequence = (SELECT MAX(sequence) FROM snapshots WHERE domain = w.d AND aggregate_id = w.a)`)
	if err != nil {
		return err
	}
	rows, err := snaps.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	from := make(map[coverKey]uint32, len(covers))
	for rows.Next() {
		var k coverKey
		var snap eventstore.Snapshot
		var created string
		if err := rows.Scan(&k.domain, &k.root, &snap.Sequence, &snap.TypeURL, &snap.State, &created); err != nil {
			rows.Close()
			return err
		}
		if snap.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			rows.Close()
			return fmt.Errorf("snapshot of %s/%s: %w", k.domain, k.root, err)
		}
		from[k] = snap.Sequence
		for _, i := range at[k] {
			sn := snap
			out[i].Snapshot = &sn
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	args = args[:0]
	for k := range at {
		args = append(args, k.domain, k.root, from[k])
	}
	for range class - len(at) {
		args = append(args, "", "", 0)
	}
	read, err := s.sized.get(ctx, s.r, `WITH w(d, a, f) AS (VALUES `+valuesList("(?, ?, ?)", class)+`)
		SELECT e.domain, e.aggregate_id, e.sequence, e.created_at, e.type_url, e.payload, `+prefixed("e.", causeColumns)+`
		FROM w JOIN events e ON e.domain = w.d AND e.aggregate_id = w.a AND e.sequence >= w.f`)
	if err != nil {
		return err
	}
	rows, err = read.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		k                         coverKey
		dom, root, ts, typeURL, p []byte
		seq                       any
		cause                     causeScan
		mem                       arena
		types                     = interner{}
		events                    = make(map[coverKey][]eventstore.Event)
	)
	dest := append([]any{&dom, &root, &seq, &ts, &typeURL, &p}, cause.dest()...)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		k = coverKey{types.get(dom), types.get(root)}
		var e eventstore.Event
		n, err := uint32Of(seq)
		if err != nil {
			return fmt.Errorf("%s/%s: sequence: %w", k.domain, k.root, err)
		}
		e.Sequence = n
		if e.CreatedAt, err = parseTime(ts); err != nil {
			return fmt.Errorf("%s/%s: event %d: %w", k.domain, k.root, n, err)
		}
		e.TypeURL, e.Payload = types.get(typeURL), mem.copy(p)
		if e.Cause, err = cause.cause(types); err != nil {
			return fmt.Errorf("%s/%s: event %d: %w", k.domain, k.root, n, err)
		}
		if e.SchemaVersion, err = cause.schemaVersion(); err != nil {
			return fmt.Errorf("%s/%s: event %d: %w", k.domain, k.root, n, err)
		}
		events[k] = append(events[k], e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k, evs := range events {
		// The join's order is the planner's: sequence order is made here.
		if !slices.IsSortedFunc(evs, func(a, b eventstore.Event) int { return int(a.Sequence) - int(b.Sequence) }) {
			slices.SortFunc(evs, func(a, b eventstore.Event) int { return int(a.Sequence) - int(b.Sequence) })
		}
		for j, i := range at[k] {
			if j > 0 {
				evs = slices.Clone(evs)
			}
			out[i].Events = evs
		}
	}
	return nil
}

// prefixed puts prefix before each of the comma-separated columns.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = prefix + c
	}
	return strings.Join(cols, ", ")
}
