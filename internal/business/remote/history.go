package remote

import (
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// Field numbers of the messages the request is written from (see
// proto/evented/evented.proto).
const (
	contextualEvents  protowire.Number = 1 // ContextualCommand.events
	contextualCommand protowire.Number = 2 // ContextualCommand.command
	bookCover         protowire.Number = 1 // EventBook.cover
	bookSnapshot      protowire.Number = 2 // EventBook.snapshot
	bookPages         protowire.Number = 3 // EventBook.pages
)

// Bounds of the history cache: an aggregate whose pages take more than
// maxHistoryBytes is encoded afresh for every command (its cost is its
// length, which a snapshot policy bounds); past maxHistoryTotal, entries
// are dropped at random.
const (
	maxHistoryBytes = 1 << 20
	maxHistoryTotal = 64 << 20
)

// history keeps, per aggregate, the wire form of the events last sent to
// the business logic, so that a command encodes only the events stored
// since the last one: an event is marshalled once, not once for every
// later command of its aggregate.
//
// An entry's bytes are never changed once published: a newer entry of the
// aggregate appends past their end (the old slice does not reach there),
// under mu, and only to the aggregate's current entry.
type history struct {
	mu      sync.Mutex
	entries map[eventstore.Cover]*encodedPages
	total   int
}

// encodedPages is the field-3 (pages) encoding of an aggregate's events
// with sequences [first, next).
type encodedPages struct {
	first, next uint32
	lastAt      time.Time // the last event's commit time: a check that the events are the same
	bytes       []byte
}

// matches reports whether e holds a prefix of events.
func (e *encodedPages) matches(events []eventstore.Event) bool {
	n := int(e.next - e.first)
	return e.next > e.first && len(events) >= n && events[0].Sequence == e.first &&
		events[n-1].Sequence == e.next-1 && events[n-1].CreatedAt.Equal(e.lastAt)
}

// pages returns the encoding of events (all of one aggregate, in sequence
// order), reusing what an earlier call encoded.
func (h *history) pages(cover eventstore.Cover, events []eventstore.Event) []byte {
	if len(events) == 0 {
		return nil
	}
	h.mu.Lock()
	e := h.entries[cover]
	h.mu.Unlock()
	done := 0
	if e != nil && e.matches(events) {
		done = int(e.next - e.first)
		if done == len(events) {
			return e.bytes
		}
	} else {
		e = nil
	}
	fresh := appendPages(nil, events[done:])
	last := events[len(events)-1]
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.entries[cover]
	out := fresh
	if e != nil {
		if cur != e {
			// Another call for this aggregate published meanwhile: send
			// a copy of its own, keep nothing.
			return append(slices.Clip(e.bytes), fresh...)
		}
		out = append(e.bytes, fresh...) // past e.bytes' end: no slice handed out reaches there
	}
	if cur != nil {
		h.total -= len(cur.bytes)
		delete(h.entries, cover)
	}
	if len(out) > maxHistoryBytes {
		return out
	}
	if h.entries == nil {
		h.entries = map[eventstore.Cover]*encodedPages{}
	}
	h.entries[cover] = &encodedPages{first: events[0].Sequence, next: last.Sequence + 1, lastAt: last.CreatedAt, bytes: out}
	h.total += len(out)
	for c, x := range h.entries {
		if h.total <= maxHistoryTotal {
			break
		}
		if c != cover {
			h.total -= len(x.bytes)
			delete(h.entries, c)
		}
	}
	return out
}

// appendPages appends each event as an EventBook.pages field.
func appendPages(b []byte, events []eventstore.Event) []byte {
	opts := proto.MarshalOptions{}
	for _, p := range wire.PBEvents(events) {
		b = protowire.AppendTag(b, bookPages, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(opts.Size(p)))
		b, _ = opts.MarshalAppend(b, p) // EventPage has no required fields: it cannot fail
	}
	return b
}

// request is a ContextualCommand already in its wire form: head (the
// event book's tag, length, cover and snapshot), the pages, then the
// command. The pages are shared with the history cache, not copied.
type request struct {
	head, pages, tail []byte
}

// encode writes req as a ContextualCommand.
func (h *history) encode(req business.Request) (*request, error) {
	opts := proto.MarshalOptions{}
	var book []byte
	book = protowire.AppendTag(book, bookCover, protowire.BytesType)
	cover := wire.PBCover(req.Prior.Cover)
	book = protowire.AppendVarint(book, uint64(opts.Size(cover)))
	book, err := opts.MarshalAppend(book, cover)
	if err != nil {
		return nil, err
	}
	if s := wire.PBSnapshot(req.Prior.Snapshot); s != nil {
		book = protowire.AppendTag(book, bookSnapshot, protowire.BytesType)
		book = protowire.AppendVarint(book, uint64(opts.Size(s)))
		if book, err = opts.MarshalAppend(book, s); err != nil {
			return nil, err
		}
	}
	pages := h.pages(req.Prior.Cover, req.Prior.Events)
	head := protowire.AppendTag(make([]byte, 0, len(book)+12), contextualEvents, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(book)+len(pages)))
	head = append(head, book...)
	cmd := wire.PBCommandBook(req.Command)
	tail := protowire.AppendTag(nil, contextualCommand, protowire.BytesType)
	tail = protowire.AppendVarint(tail, uint64(opts.Size(cmd)))
	if tail, err = opts.MarshalAppend(tail, cmd); err != nil {
		return nil, err
	}
	return &request{head: head, pages: pages, tail: tail}, nil
}

// codec is gRPC's proto codec, except that a *request is sent as it is.
type codec struct{ encoding.CodecV2 }

func newCodec() codec { return codec{encoding.GetCodecV2(grpcproto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*request); ok {
		out := mem.BufferSlice{mem.SliceBuffer(r.head)}
		if len(r.pages) > 0 {
			out = append(out, mem.SliceBuffer(r.pages))
		}
		return append(out, mem.SliceBuffer(r.tail)), nil
	}
	return c.CodecV2.Marshal(v)
}

// handleMethod is BusinessLogic.Handle's full name, for calls that send a
// *request.
const handleMethod = eventedpb.BusinessLogic_Handle_FullMethodName
