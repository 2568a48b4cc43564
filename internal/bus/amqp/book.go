package amqp

// A book crosses the broker as the protobuf encoding of evented.EventBook,
// the wire contract's own message, so that consumers in any language decode
// it with the generated code of evented.proto.

import (
	"fmt"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

const (
	// contentType labels the body (content-type property).
	contentType = "application/protobuf"
	// messageType is the protobuf full name of the body (type property).
	messageType = "evented.EventBook"
)

// encode encodes book as an evented.EventBook, pages numbered and dated as
// stored.
func encode(book eventstore.Book) ([]byte, error) { return wire.MarshalStored(book) }

// decode decodes an evented.EventBook body into a book; errors wrap
// bus.ErrMalformed (see wire.UnmarshalStored for what is checked).
func decode(data []byte) (eventstore.Book, error) {
	book, err := wire.UnmarshalStored(data)
	if err != nil {
		return book, fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	return book, nil
}
