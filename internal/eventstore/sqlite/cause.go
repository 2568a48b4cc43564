package sqlite

import (
	"database/sql"
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// causeColumns are the columns of an event's cause and schema version, in
// the order of causeArgs and causeScan.
const causeColumns = "correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version"

// causeArgs are the values of causeColumns for c and schemaVersion: NULL
// for what they do not record, so that a row without a cause reads like one
// stored before there were causes.
func causeArgs(c eventstore.Cause, schemaVersion uint32) []any {
	args := []any{nullText(c.CorrelationID), nullText(c.CommandID), nil, nil, nil, nil, nil}
	if schemaVersion > 0 {
		args[6] = int64(schemaVersion)
	}
	if !c.CausedBy.IsZero() {
		args[2], args[3], args[4] = c.CausedBy.Cover.Domain, c.CausedBy.Cover.Root.String(), int64(c.CausedBy.Sequence)
	}
	if c.Depth > 0 {
		args[5] = int64(c.Depth)
	}
	return args
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// causeScan is what a row's causeColumns are scanned into.
type causeScan struct {
	correlation, command, domain, root sql.RawBytes // valid until the next Scan
	seq, depth, version                any
}

func (c *causeScan) dest() []any {
	return []any{&c.correlation, &c.command, &c.domain, &c.root, &c.seq, &c.depth, &c.version}
}

// schemaVersion reads the scanned schema version (NULL: 0).
func (c *causeScan) schemaVersion() (uint32, error) {
	if c.version == nil {
		return 0, nil
	}
	v, err := uint32Of(c.version)
	if err != nil {
		return 0, fmt.Errorf("schema_version: %w", err)
	}
	return v, nil
}

// cause reads what was scanned; in interns the repeated strings.
func (c *causeScan) cause(in interner) (eventstore.Cause, error) {
	var out eventstore.Cause
	if c.correlation != nil {
		out.CorrelationID = in.get(c.correlation)
	}
	if c.command != nil {
		out.CommandID = in.get(c.command)
	}
	if c.domain != nil {
		root, err := uuid.ParseBytes(c.root)
		if err != nil {
			return out, fmt.Errorf("cause_root: %w", err)
		}
		seq, err := uint32Of(c.seq)
		if err != nil {
			return out, fmt.Errorf("cause_sequence: %w", err)
		}
		out.CausedBy = eventstore.EventRef{Cover: eventstore.Cover{Domain: in.get(c.domain), Root: root}, Sequence: seq}
	}
	if c.depth != nil {
		d, err := uint32Of(c.depth)
		if err != nil {
			return out, fmt.Errorf("depth: %w", err)
		}
		out.Depth = d
	}
	return out, nil
}

func uint32Of(v any) (uint32, error) {
	n, ok := v.(int64)
	if !ok || n < 0 || n > math.MaxUint32 {
		return 0, fmt.Errorf("%v is not a uint32", v)
	}
	return uint32(n), nil
}
