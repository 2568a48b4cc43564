package sqlite_test

import (
	"testing"

	"github.com/evented/evented/internal/eventstore/storetest"
)

// BenchmarkAppendGroup: the store's part of firing 10,000 deadlines due at
// once (storetest.BenchAppendGroup), on a fresh file each wave.
func BenchmarkAppendGroup(b *testing.B) {
	storetest.BenchAppendGroup(b, func(b *testing.B) storetest.GroupStore { return benchStore(b) }, benchTypeURL, benchPayload)
}
