// Package wire converts between the protobuf messages of package evented and
// the core's types, validating what comes in. Every rejection is an
// *eventstore.InvalidError naming the field as the client wrote it
// (cover.root.value, pages[2].event, …) and what is allowed.
package wire

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
)

// Root validates a wire UUID.
func Root(u *eventedpb.UUID, field string) (uuid.UUID, error) {
	if u == nil {
		return uuid.UUID{}, eventstore.Invalid(field, "missing; a 16-byte UUID is required")
	}
	if len(u.GetValue()) != 16 {
		return uuid.UUID{}, eventstore.Invalid(field+".value", "must be exactly 16 bytes, got %d", len(u.GetValue()))
	}
	return uuid.UUID(u.GetValue()), nil
}

// PBRoot is the wire form of a root.
func PBRoot(r uuid.UUID) *eventedpb.UUID { return &eventedpb.UUID{Value: r[:]} }

// Cover validates a wire cover: present, a 16-byte root, a non-empty domain.
func Cover(c *eventedpb.Cover, field string) (eventstore.Cover, error) {
	if c == nil {
		return eventstore.Cover{}, eventstore.Invalid(field, "missing; a cover with domain and root is required")
	}
	if c.GetDomain() == "" {
		return eventstore.Cover{}, eventstore.Invalid(field+".domain", "must not be empty")
	}
	root, err := Root(c.GetRoot(), field+".root")
	if err != nil {
		return eventstore.Cover{}, err
	}
	return eventstore.Cover{Domain: c.GetDomain(), Root: root}, nil
}

// PBCover is the wire form of a cover.
func PBCover(c eventstore.Cover) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: c.Domain, Root: PBRoot(c.Root)}
}

// Pages validates the pages of a book to append (Record): each needs an
// event. Of their metadata only schema_version is read: evented records
// the cause itself.
func Pages(pages []*eventedpb.EventPage, field string) ([]eventstore.Page, error) {
	out := make([]eventstore.Page, len(pages))
	for i, p := range pages {
		f := fmt.Sprintf("%s[%d]", field, i)
		if p.GetEvent() == nil {
			return nil, eventstore.Invalid(f+".event", "missing; every page needs an event (google.protobuf.Any)")
		}
		if p.GetEvent().GetTypeUrl() == "" {
			return nil, eventstore.Invalid(f+".event.type_url", "must not be empty")
		}
		n, hasNum := p.GetSequence().(*eventedpb.EventPage_Num)
		out[i] = eventstore.Page{TypeURL: p.GetEvent().GetTypeUrl(), Payload: p.GetEvent().GetValue(), SchemaVersion: p.GetMetadata().GetSchemaVersion()}
		if hasNum {
			out[i].HasNum, out[i].Num = true, n.Num
		}
		if p.GetCreatedAt() != nil {
			if err := p.GetCreatedAt().CheckValid(); err != nil {
				return nil, eventstore.Invalid(f+".created_at", "%v", err)
			}
			out[i].CreatedAt = p.GetCreatedAt().AsTime()
		}
	}
	return out, nil
}

// PBEvents is the wire form of stored events.
func PBEvents(events []eventstore.Event) []*eventedpb.EventPage {
	out := make([]*eventedpb.EventPage, len(events))
	for i, e := range events {
		out[i] = &eventedpb.EventPage{
			Sequence:  &eventedpb.EventPage_Num{Num: e.Sequence},
			CreatedAt: timestamppb.New(e.CreatedAt),
			Event:     &anypb.Any{TypeUrl: e.TypeURL, Value: e.Payload},
			Metadata:  PBMetadata(e.Cause, e.SchemaVersion),
		}
	}
	return out
}

// PBMetadata is the wire form of an event's cause and schema version: nil
// when it records neither (an event stored before causes were).
func PBMetadata(c eventstore.Cause, schemaVersion uint32) *eventedpb.EventMetadata {
	if c.IsZero() && schemaVersion == 0 {
		return nil
	}
	m := &eventedpb.EventMetadata{CorrelationId: c.CorrelationID, CommandId: c.CommandID, Depth: c.Depth, SchemaVersion: schemaVersion}
	if !c.CausedBy.IsZero() {
		m.CausedBy, m.CausedBySequence = PBCover(c.CausedBy.Cover), c.CausedBy.Sequence
	}
	return m
}

// Metadata reads an event's cause from the wire, leniently: it is
// informative, so a triggering event with an invalid cover is dropped
// rather than failing the book.
func Metadata(m *eventedpb.EventMetadata) eventstore.Cause {
	if m == nil {
		return eventstore.Cause{}
	}
	c := eventstore.Cause{CorrelationID: m.GetCorrelationId(), CommandID: m.GetCommandId(), Depth: m.GetDepth()}
	if cover, err := Cover(m.GetCausedBy(), "caused_by"); err == nil {
		c.CausedBy = eventstore.EventRef{Cover: cover, Sequence: m.GetCausedBySequence()}
	}
	return c
}

// PBSnapshot is the wire form of a stored snapshot (nil for nil).
func PBSnapshot(s *eventstore.Snapshot) *eventedpb.Snapshot {
	if s == nil {
		return nil
	}
	return &eventedpb.Snapshot{Sequence: s.Sequence, State: &anypb.Any{TypeUrl: s.TypeURL, Value: s.State}}
}

// PBBook is the wire form of a stored book.
func PBBook(b eventstore.Book) *eventedpb.EventBook {
	return &eventedpb.EventBook{Cover: PBCover(b.Cover), Snapshot: PBSnapshot(b.Snapshot), Pages: PBEvents(b.Events)}
}

// CommandBook validates a wire command book: a valid cover and at least one
// page, each with a typed command.
func CommandBook(b *eventedpb.CommandBook) (business.CommandBook, error) {
	cover, err := Cover(b.GetCover(), "cover")
	if err != nil {
		return business.CommandBook{}, err
	}
	if len(b.GetPages()) == 0 {
		return business.CommandBook{}, eventstore.Invalid("pages", "must hold at least one command page")
	}
	out := business.CommandBook{Cover: cover, Pages: make([]business.Command, len(b.GetPages()))}
	for i, p := range b.GetPages() {
		if p.GetCommand() == nil || p.GetCommand().GetTypeUrl() == "" {
			return business.CommandBook{}, eventstore.Invalid(fmt.Sprintf("pages[%d].command", i), "missing; every page needs a command (google.protobuf.Any with a type_url)")
		}
		out.Pages[i] = business.Command{
			Sequence:    p.GetSequence(),
			Synchronous: p.GetSynchronous(),
			TypeURL:     p.GetCommand().GetTypeUrl(),
			Payload:     p.GetCommand().GetValue(),
		}
	}
	return out, nil
}

// PBCommandBook is the wire form of a command book.
func PBCommandBook(b business.CommandBook) *eventedpb.CommandBook {
	out := &eventedpb.CommandBook{Cover: PBCover(b.Cover), Pages: make([]*eventedpb.CommandPage, len(b.Pages))}
	for i, p := range b.Pages {
		out.Pages[i] = &eventedpb.CommandPage{
			Sequence:    p.Sequence,
			Synchronous: p.Synchronous,
			Command:     &anypb.Any{TypeUrl: p.TypeURL, Value: p.Payload},
		}
	}
	return out
}

// PBContextual is the request sent to business logic.
func PBContextual(r business.Request) *eventedpb.ContextualCommand {
	return &eventedpb.ContextualCommand{Events: PBBook(r.Prior), Command: PBCommandBook(r.Command)}
}

// Decision reads business logic's answer. A book with no cover and no pages
// is a valid "nothing happened"; anything else must carry a valid cover.
// The field names in errors are those of the returned EventBook.
func Decision(b *eventedpb.EventBook) (business.Decision, error) {
	deadlines, err := Deadlines(b.GetDeadlines(), "deadlines")
	if err != nil {
		return business.Decision{}, err
	}
	if b.GetCover() == nil && len(b.GetPages()) == 0 && b.GetSnapshot() == nil {
		return business.Decision{Deadlines: deadlines}, nil
	}
	cover, err := Cover(b.GetCover(), "cover")
	if err != nil {
		return business.Decision{}, err
	}
	pages, err := Pages(b.GetPages(), "pages")
	if err != nil {
		return business.Decision{}, err
	}
	d := business.Decision{Cover: cover, Events: make([]business.Event, len(pages)), Deadlines: deadlines}
	for i, p := range pages {
		d.Events[i] = business.Event{HasNum: p.HasNum, Num: p.Num, CreatedAt: p.CreatedAt, TypeURL: p.TypeURL, Payload: p.Payload, SchemaVersion: p.SchemaVersion}
	}
	if s := b.GetSnapshot(); s != nil && s.GetState() != nil {
		d.Snapshot = &business.Snapshot{TypeURL: s.GetState().GetTypeUrl(), State: s.GetState().GetValue()}
	}
	return d, nil
}

// Book reads a wire book as stored events: a valid cover and pages whose
// num is their sequence (a page without one follows the previous page),
// with their metadata.
func Book(b *eventedpb.EventBook) (eventstore.Book, error) {
	cover, err := Cover(b.GetCover(), "cover")
	if err != nil {
		return eventstore.Book{}, err
	}
	pages, err := Pages(b.GetPages(), "pages")
	if err != nil {
		return eventstore.Book{}, err
	}
	book := eventstore.Book{Cover: cover, Events: make([]eventstore.Event, len(pages))}
	if s := b.GetSnapshot(); s != nil {
		book.Snapshot = &eventstore.Snapshot{Sequence: s.GetSequence(), TypeURL: s.GetState().GetTypeUrl(), State: s.GetState().GetValue()}
	}
	next := book.Next()
	for i, p := range pages {
		if p.HasNum {
			next = p.Num
		}
		book.Events[i] = eventstore.Event{Sequence: next, CreatedAt: p.CreatedAt, TypeURL: p.TypeURL, Payload: p.Payload,
			SchemaVersion: p.SchemaVersion, Cause: Metadata(b.GetPages()[i].GetMetadata())}
		next++
	}
	return book, nil
}

// Deadlines validates deadlines as business logic or a saga returned them:
// each needs an id; one that is not a cancellation needs a due time and a
// valid command.
func Deadlines(ds []*eventedpb.Deadline, field string) ([]business.Deadline, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]business.Deadline, len(ds))
	for i, d := range ds {
		f := fmt.Sprintf("%s[%d]", field, i)
		if n := len(d.GetId()); n == 0 || n > eventstore.MaxDeadlineID {
			return nil, eventstore.Invalid(f+".id", "is %d bytes long; 1 to %d bytes of printable ASCII are allowed", n, eventstore.MaxDeadlineID)
		}
		out[i] = business.Deadline{ID: d.GetId(), Cancel: d.GetCancel()}
		if d.GetCancel() {
			continue
		}
		if d.GetDue() == nil {
			return nil, eventstore.Invalid(f+".due", "missing; a deadline needs a due time (or cancel: true)")
		}
		if err := d.GetDue().CheckValid(); err != nil {
			return nil, eventstore.Invalid(f+".due", "%v", err)
		}
		out[i].Due = d.GetDue().AsTime()
		if d.GetCommand() == nil {
			return nil, eventstore.Invalid(f+".command", "missing; a deadline needs the command to dispatch (or cancel: true)")
		}
		cmd, err := CommandBook(d.GetCommand())
		if err != nil {
			var inv *eventstore.InvalidError
			if errors.As(err, &inv) {
				return nil, eventstore.Invalid(f+".command."+inv.Field, "%s", inv.Reason)
			}
			return nil, err
		}
		out[i].Command = cmd
	}
	return out, nil
}

// PBDeadline is the wire form of a pending deadline whose command is cmd.
func PBDeadline(d eventstore.Deadline, cmd business.CommandBook) *eventedpb.PendingDeadline {
	return &eventedpb.PendingDeadline{Id: d.ID, Due: timestamppb.New(d.Due), Command: PBCommandBook(cmd),
		Key: d.Key, ScheduledAt: timestamppb.New(d.CreatedAt)}
}
