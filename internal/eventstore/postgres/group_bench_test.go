package postgres_test

import (
	"testing"

	"github.com/evented/evented/internal/eventstore/storetest"
)

// BenchmarkAppendGroup: the store's part of firing 10,000 deadlines due at
// once (storetest.BenchAppendGroup), in a fresh schema each wave; the CPU
// per append is the client's, not the server's.
func BenchmarkAppendGroup(b *testing.B) {
	storetest.BenchAppendGroup(b, func(b *testing.B) storetest.GroupStore { return open(b, freshSchema(b)) }, benchTypeURL, benchPayload)
}
