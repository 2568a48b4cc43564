package cluster

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// positions polls the store's delivery positions while the replicas run:
// the checkpoints table (one row per subscriber) and, when there is one,
// the segments table of segmented delivery (a row per subscriber, segment
// count and segment, with its owner, fencing token and position). Its
// columns are found by name, so the poller follows the schema.
type positions struct {
	db     *sql.DB
	tables string // query listing the tables

	mu        sync.Mutex
	polls     int
	errs      int
	lastErr   error
	rows      map[string]posRow // by table and key
	columns   map[string][]string
	backwards problems // a position that decreased
	leases    problems // a token that decreased, an owner changed without a new token
	schema    problems // a segments table whose columns are not understood
	moves     int      // owner changes seen
}

type posRow struct {
	position int64
	owner    string
	token    int64
}

// watchPositions polls db until ctx ends; tables is a query listing the
// store's tables.
func watchPositions(ctx context.Context, t *testing.T, db *sql.DB, tables string) *positions {
	p := &positions{db: db, tables: tables, rows: map[string]posRow{}, columns: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return p
}

func (p *positions) poll(ctx context.Context) {
	err := p.pollOnce(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	if err != nil && ctx.Err() == nil {
		p.errs++
		p.lastErr = err
	}
}

func (p *positions) pollOnce(ctx context.Context) error {
	names, err := p.query(ctx, p.tables)
	if err != nil {
		return err
	}
	for _, n := range names {
		table := fmt.Sprint(n["name"])
		if table != "checkpoints" && table != "segments" {
			continue
		}
		rows, err := p.query(ctx, "SELECT * FROM "+table)
		if err != nil {
			return err
		}
		p.observe(table, rows)
	}
	return nil
}

// query returns rows as maps by lower-case column name.
func (p *positions) query(ctx context.Context, q string) ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := p.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[strings.ToLower(c)] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// isKey says whether a segments column names the row rather than its
// state: the subscriber, the segment and how many segments there are.
func isKey(col string) bool {
	switch col {
	case "subscriber", "segment", "of", "segments", "segment_count", "total":
		return true
	}
	return strings.HasPrefix(col, "of_")
}

func (p *positions) observe(table string, rows []map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rows {
		if _, ok := p.columns[table]; !ok {
			var cols []string
			for c := range r {
				cols = append(cols, c)
			}
			sort.Strings(cols)
			p.columns[table] = cols
		}
		var key []string
		for _, c := range p.columns[table] {
			if isKey(c) {
				key = append(key, fmt.Sprintf("%s=%v", c, r[c]))
			}
		}
		pos, okPos := asInt(r["position"])
		tok, okTok := asInt(r["token"])
		owner, okOwner := r["owner"]
		if table == "segments" && (len(key) < 2 || !okPos || !okTok || !okOwner) {
			if p.schema.n == 0 {
				p.schema.add("table segments has columns %v: want subscriber, segment, owner, token and position", p.columns[table])
			}
			continue
		}
		if !okPos {
			p.schema.add("table %s has no integer column position: %v", table, p.columns[table])
			continue
		}
		id := table + " " + strings.Join(key, " ")
		now := posRow{position: pos, token: tok, owner: fmt.Sprint(owner)}
		before, seen := p.rows[id]
		p.rows[id] = now
		if !seen {
			continue
		}
		if now.position < before.position {
			p.backwards.add("%s: position went back from %d to %d", id, before.position, now.position)
		}
		if table != "segments" {
			continue
		}
		if now.token < before.token {
			p.leases.add("%s: fencing token went back from %d to %d (owner %s → %s)", id, before.token, now.token, before.owner, now.owner)
		}
		if now.owner != before.owner {
			p.moves++
			if now.token == before.token && now.owner != "" && before.owner != "" {
				p.leases.add("%s: owner changed from %s to %s with token %d unchanged: two replicas held the lease", id, before.owner, now.owner, now.token)
			}
		}
	}
}

func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int:
		return int64(v), true
	case float64:
		return int64(v), true
	}
	return 0, false
}

func (p *positions) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var tables []string
	for t, cols := range p.columns {
		tables = append(tables, fmt.Sprintf("%s%v", t, cols))
	}
	sort.Strings(tables)
	return fmt.Sprintf("positions: %d polls (%d failed) of %s, %d rows, %d went backwards, %d lease violations, %d owner changes",
		p.polls, p.errs, strings.Join(tables, " "), len(p.rows), p.backwards.n, p.leases.n, p.moves)
}

// report fails t with what the polls found wrong.
func (p *positions) report(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backwards.report(t, "checkpoints that moved backwards")
	p.leases.report(t, "segment leases held by two replicas")
	p.schema.report(t, "delivery position tables not understood")
	if p.polls > 0 && p.errs == p.polls {
		t.Errorf("positions: every poll failed; last: %v", p.lastErr)
	}
	if len(p.rows) == 0 {
		t.Errorf("positions: no checkpoint or segment row seen in %d polls (last error: %v)", p.polls, p.lastErr)
	}
}
