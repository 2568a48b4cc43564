package sqlite_test

import (
	"testing"

	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/eventstore/storetest"
)

func TestLog(t *testing.T) {
	storetest.RunLog(t, storetest.LogBackend{Open: func(t *testing.T) storetest.LogStore { return open(t, tempPath(t)) }})
}

func TestSubscriptions(t *testing.T) {
	storetest.RunSubscriptions(t,
		func(t *testing.T) storetest.SubscriptionStore { return open(t, tempPath(t)) },
		func(t *testing.T, s storetest.SubscriptionStore) storetest.SubscriptionStore {
			return open(t, s.(*sqlite.Store).Path())
		})
}
