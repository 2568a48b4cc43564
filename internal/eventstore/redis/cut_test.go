package redis_test

import (
	neturl "net/url"
	"testing"

	"github.com/evented/evented/internal/eventstore/storetest"
)

// TestAppendsNotResent appends through a proxy that drops a connection
// instead of forwarding every 7th reply: go-redis must not re-send an
// append script whose reply was lost (it would be stored twice); such an
// append is in doubt.
func TestAppendsNotResent(t *testing.T) {
	url := freshPrefix(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	cut := storetest.NewCutter(t, u.Host, 7)
	u.Host = cut.Addr()
	storetest.RunInDoubt(t, open(t, u.String()), open(t, url), cut, 8, 150)
}
