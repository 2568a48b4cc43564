package nats

// A book crosses the broker as the protobuf encoding of evented.EventBook,
// the wire contract's own message, so that consumers in any language decode
// it with the generated code of evented.proto. (The amqp and nats backends
// each carry this small codec: the import rules keep adapters apart.)

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// contentType labels the body (Content-Type header).
const contentType = "application/protobuf"

// encode encodes book as an evented.EventBook, pages numbered and dated as
// stored.
func encode(book eventstore.Book) ([]byte, error) {
	return proto.Marshal(wire.PBBook(book))
}

// decode decodes an evented.EventBook body into a book. Errors wrap
// bus.ErrMalformed: the body is not protobuf, the cover is invalid, or a
// page lacks its sequence number, its time or its event.
func decode(data []byte) (eventstore.Book, error) {
	var pb eventedpb.EventBook
	if err := proto.Unmarshal(data, &pb); err != nil {
		return eventstore.Book{}, fmt.Errorf("%w: not an evented.EventBook: %v", bus.ErrMalformed, err)
	}
	cover, err := wire.Cover(pb.GetCover(), "cover")
	if err != nil {
		return eventstore.Book{}, fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	book := eventstore.Book{Cover: cover, Events: make([]eventstore.Event, len(pb.GetPages()))}
	for i, p := range pb.GetPages() {
		num, ok := p.GetSequence().(*eventedpb.EventPage_Num)
		if !ok {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d] has no sequence number", bus.ErrMalformed, i)
		}
		if err := p.GetCreatedAt().CheckValid(); err != nil {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d].created_at: %v", bus.ErrMalformed, i, err)
		}
		if p.GetEvent() == nil {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d] has no event", bus.ErrMalformed, i)
		}
		book.Events[i] = eventstore.Event{
			Sequence:  num.Num,
			CreatedAt: p.GetCreatedAt().AsTime(),
			TypeURL:   p.GetEvent().GetTypeUrl(),
			Payload:   p.GetEvent().GetValue(),
		}
	}
	if s := pb.GetSnapshot(); s != nil {
		book.Snapshot = &eventstore.Snapshot{Sequence: s.GetSequence(), TypeURL: s.GetState().GetTypeUrl(), State: s.GetState().GetValue()}
	}
	return book, nil
}
