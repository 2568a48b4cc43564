package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
)

// ErrMalformed is matched by every error of UnmarshalStored.
var ErrMalformed = errors.New("malformed event book")

// MarshalStored encodes stored events as the protobuf of evented.EventBook,
// the wire contract's own message, so that consumers in any language decode
// it with the code generated from evented.proto (the bus bodies).
func MarshalStored(book eventstore.Book) ([]byte, error) {
	return proto.Marshal(PBBook(book))
}

// UnmarshalStored decodes what MarshalStored encoded, strictly: the body is
// an evented.EventBook with a valid cover, and every page has its sequence
// number, its time and its event, as stored events do. Errors wrap
// ErrMalformed.
func UnmarshalStored(data []byte) (eventstore.Book, error) {
	var pb eventedpb.EventBook
	if err := proto.Unmarshal(data, &pb); err != nil {
		return eventstore.Book{}, fmt.Errorf("%w: not an evented.EventBook: %v", ErrMalformed, err)
	}
	cover, err := Cover(pb.GetCover(), "cover")
	if err != nil {
		return eventstore.Book{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	book := eventstore.Book{Cover: cover, Events: make([]eventstore.Event, len(pb.GetPages()))}
	for i, p := range pb.GetPages() {
		num, ok := p.GetSequence().(*eventedpb.EventPage_Num)
		if !ok {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d] has no sequence number", ErrMalformed, i)
		}
		if err := p.GetCreatedAt().CheckValid(); err != nil {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d].created_at: %v", ErrMalformed, i, err)
		}
		if p.GetEvent() == nil {
			return eventstore.Book{}, fmt.Errorf("%w: pages[%d] has no event", ErrMalformed, i)
		}
		book.Events[i] = eventstore.Event{
			Sequence:  num.Num,
			CreatedAt: p.GetCreatedAt().AsTime(),
			TypeURL:   p.GetEvent().GetTypeUrl(),
			Payload:   p.GetEvent().GetValue(),
			Cause:     Metadata(p.GetMetadata()),

			SchemaVersion: p.GetMetadata().GetSchemaVersion(),
		}
	}
	if s := pb.GetSnapshot(); s != nil {
		book.Snapshot = &eventstore.Snapshot{Sequence: s.GetSequence(), TypeURL: s.GetState().GetTypeUrl(), State: s.GetState().GetValue()}
	}
	return book, nil
}
