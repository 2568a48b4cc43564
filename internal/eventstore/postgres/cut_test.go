package postgres_test

import (
	neturl "net/url"
	"testing"

	"github.com/evented/evented/internal/eventstore/postgres"
	"github.com/evented/evented/internal/eventstore/storetest"
)

// TestAppendsInDoubt appends through a proxy that drops a connection
// instead of forwarding every 7th chunk the server sends: an append whose
// answer is lost is in doubt (never INTERNAL, never re-sent), an
// acknowledged one is stored once.
func TestAppendsInDoubt(t *testing.T) {
	url := freshSchema(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	cut := storetest.NewCutter(t, u.Host, 7)
	u.Host = cut.Addr()
	storetest.RunInDoubt(t, open(t, u.String(), postgres.WithNotify(false)), open(t, url), cut, 8, 150)
}
