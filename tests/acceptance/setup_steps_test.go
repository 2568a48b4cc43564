package acceptance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// emptyEventStore: every scenario gets a new SQLite file (see newWorld);
// the step only makes sure nothing was stored before it.
func (w *world) emptyEventStore() error { return w.configure("the event store") }

func (w *world) businessLogicFor(domain string) error {
	if err := w.configure("business logic"); err != nil {
		return err
	}
	if w.logic == nil {
		l, err := startStubLogic()
		if err != nil {
			return err
		}
		w.logic = l
	}
	w.cfg.BusinessLogic = append(w.cfg.BusinessLogic, config.BusinessLogic{Domain: domain, Address: w.logic.addr})
	return nil
}

func (w *world) noBusinessLogic() error {
	if err := w.configure("business logic"); err != nil {
		return err
	}
	if len(w.cfg.BusinessLogic) > 0 {
		return fmt.Errorf("business logic is configured for %v", w.cfg.BusinessLogic)
	}
	return nil
}

func (w *world) maxAttempts(n int) error {
	if err := w.configure("the number of attempts"); err != nil {
		return err
	}
	w.cfg.Command.MaxAttempts = n
	return nil
}

// stub is the stub business logic, which the step needs.
func (w *world) stub() (*stubLogic, error) {
	if w.logic == nil {
		return nil, errors.New("no business logic service: add `a stub business logic service for domain \"…\"` first")
	}
	return w.logic, nil
}

func (w *world) answersWithEvent(command, event string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{events: []string{event}})
	return nil
}

func (w *world) answersWithEventAndSnapshot(command, event string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{events: []string{event}, snapshot: true})
	return nil
}

func (w *world) answersWithNothing(command string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{events: []string{}})
	return nil
}

func (w *world) rejects(command, message string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setAnswer(command, answer{reject: message})
	return nil
}

func (w *world) stampsZero() error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	l.setStampZero()
	return nil
}

func (w *world) anotherWriter(event, when string) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	i := interfereOnce
	if when == "every time" {
		i = interfereAlways
	}
	l.setInterference(event, i)
	return nil
}

func (w *world) noPriorEvents(ctx context.Context, name, domain string) error {
	w.domains[name] = domain
	events, err := w.history(ctx, name)
	if err != nil {
		return err
	}
	if len(events) != 0 {
		return fmt.Errorf("aggregate %q already has %d events", name, len(events))
	}
	return nil
}

// priorEvents records the table's events through Record, each with its
// sequence as the optimistic check.
func (w *world) priorEvents(ctx context.Context, name, domain string, table *godog.Table) error {
	w.domains[name] = domain
	pages, err := eventTable(table)
	if err != nil {
		return err
	}
	if err := w.up(ctx); err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := w.commands.Record(ctx, &eventedpb.EventBook{Cover: cover, Pages: pages.wire()}); err != nil {
		return fmt.Errorf("record prior events of %q: %w", name, err)
	}
	return nil
}

func (w *world) commandWasHandled(ctx context.Context, command, name string) error {
	if err := w.sendCommand(ctx, command, name); err != nil {
		return err
	}
	if err := w.succeeded(); err != nil {
		return err
	}
	w.action = "" // an arrangement, not the action the scenario is about
	return nil
}

// eventRow is one row of an events table: | sequence | event_type | created_at |
// (created_at optional; empty means "the commit time").
type eventRow struct {
	sequence  uint32
	eventType string
	createdAt time.Time // zero: not given
	version   uint32    // schema version; 0: not given
}

type eventRows []eventRow

func (rows eventRows) wire() []*eventedpb.EventPage {
	pages := make([]*eventedpb.EventPage, len(rows))
	for i, r := range rows {
		pages[i] = &eventedpb.EventPage{
			Sequence: &eventedpb.EventPage_Num{Num: r.sequence},
			Event:    &anypb.Any{TypeUrl: typeURL(r.eventType)},
		}
		if !r.createdAt.IsZero() {
			pages[i].CreatedAt = timestamppb.New(r.createdAt)
		}
		if r.version > 0 {
			pages[i].Metadata = &eventedpb.EventMetadata{SchemaVersion: r.version}
		}
	}
	return pages
}

// eventTable reads a table with the columns sequence and event_type, and
// optionally created_at (RFC 3339).
func eventTable(t *godog.Table) (eventRows, error) {
	if t == nil || len(t.Rows) < 2 {
		return nil, errors.New("the step needs a table with a header and at least one row")
	}
	var header []string
	for _, c := range t.Rows[0].Cells {
		header = append(header, strings.TrimSpace(c.Value))
	}
	seqCol, typeCol, atCol := slices.Index(header, "sequence"), slices.Index(header, "event_type"), slices.Index(header, "created_at")
	versionCol := slices.Index(header, "schema_version")
	if seqCol < 0 || typeCol < 0 {
		return nil, fmt.Errorf("the table needs the columns sequence and event_type, has %v", header)
	}
	rows := make(eventRows, 0, len(t.Rows)-1)
	for _, r := range t.Rows[1:] {
		seq, err := strconv.ParseUint(strings.TrimSpace(r.Cells[seqCol].Value), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("sequence %q: %w", r.Cells[seqCol].Value, err)
		}
		row := eventRow{sequence: uint32(seq), eventType: strings.TrimSpace(r.Cells[typeCol].Value)}
		if atCol >= 0 {
			if v := strings.TrimSpace(r.Cells[atCol].Value); v != "" {
				if row.createdAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
					return nil, fmt.Errorf("created_at %q: %w", v, err)
				}
			}
		}
		if versionCol >= 0 {
			v, err := strconv.ParseUint(strings.TrimSpace(r.Cells[versionCol].Value), 10, 32)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("schema_version %q: want 1 or more", r.Cells[versionCol].Value)
			}
			row.version = uint32(v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// sequenceList reads "1, 2" (or "none") as a list of sequences.
func sequenceList(s string) ([]uint32, error) {
	if strings.TrimSpace(s) == "none" {
		return []uint32{}, nil
	}
	var out []uint32
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("sequence list %q: %w", s, err)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}
