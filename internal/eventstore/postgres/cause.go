package postgres

import (
	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// causeColumns are the columns of an event's cause and schema version, in
// the order of causeScan.dest.
const causeColumns = "correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version"

// causeArrays are the causes of an append's pages as the statement's
// parallel arrays: NULL for what a page does not record, so that an event
// without a cause reads like one stored before there were causes.
type causeArrays struct {
	correlation, command, domain, root []*string
	seq                                []*int64
	depth, version                     []*int64
}

func newCauseArrays(pages []eventstore.Page) causeArrays {
	n := len(pages)
	a := causeArrays{
		correlation: make([]*string, n), command: make([]*string, n), domain: make([]*string, n), root: make([]*string, n),
		seq: make([]*int64, n), depth: make([]*int64, n), version: make([]*int64, n),
	}
	for i, p := range pages {
		if p.SchemaVersion > 0 {
			v := int64(p.SchemaVersion)
			a.version[i] = &v
		}
		c := p.Cause
		a.correlation[i], a.command[i] = textOrNull(c.CorrelationID), textOrNull(c.CommandID)
		if !c.CausedBy.IsZero() {
			root, seq := c.CausedBy.Cover.Root.String(), int64(c.CausedBy.Sequence)
			a.domain[i], a.root[i], a.seq[i] = &c.CausedBy.Cover.Domain, &root, &seq
		}
		if c.Depth > 0 {
			d := int64(c.Depth)
			a.depth[i] = &d
		}
	}
	return a
}

func (a causeArrays) args() []any {
	return []any{a.correlation, a.command, a.domain, a.root, a.seq, a.depth, a.version}
}

func textOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// causeArgs are the values of causeColumns for one event.
func causeArgs(c eventstore.Cause, schemaVersion uint32) []any {
	a := newCauseArrays([]eventstore.Page{{Cause: c, SchemaVersion: schemaVersion}})
	return []any{a.correlation[0], a.command[0], a.domain[0], a.root[0], a.seq[0], a.depth[0], a.version[0]}
}

// causeScan is what a row's causeColumns are scanned into.
type causeScan struct {
	correlation, command, domain *string
	root                         *[16]byte // as pgRoot scans a root
	seq, depth, version          *int64
}

func (c *causeScan) dest() []any {
	return []any{&c.correlation, &c.command, &c.domain, &c.root, &c.seq, &c.depth, &c.version}
}

// schemaVersion is the scanned schema version (NULL: 0).
func (c *causeScan) schemaVersion() uint32 {
	if c.version == nil {
		return 0
	}
	return uint32(*c.version)
}

func (c *causeScan) cause() eventstore.Cause {
	var out eventstore.Cause
	if c.correlation != nil {
		out.CorrelationID = *c.correlation
	}
	if c.command != nil {
		out.CommandID = *c.command
	}
	if c.domain != nil && c.root != nil && c.seq != nil {
		out.CausedBy = eventstore.EventRef{Cover: eventstore.Cover{Domain: *c.domain, Root: uuid.UUID(*c.root)}, Sequence: uint32(*c.seq)}
	}
	if c.depth != nil {
		out.Depth = uint32(*c.depth)
	}
	return out
}
