package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

// TestEveryDomainLabelIsBounded: however many domains the observers are
// told of, the domain label takes only the configured ones, the first extra
// ones and OtherDomain, on every metric that has it. (The callers tell of
// routed or stored domains only: the coordinator routes before it loads,
// and a domain with no route never reaches an observer.)
func TestEveryDomainLabelIsBounded(t *testing.T) {
	m := New([]string{"customer"}, 2)
	call := m.Interceptor()
	for i := range 500 {
		d := fmt.Sprintf("d%d", i)
		m.Appended(d, 1)
		m.Conflict(d, i%3 == 0)
		m.DeadlinesPlanned(d, 1, 1)
		m.Fired(d, time.Millisecond, nil)
		m.SnapshotTaken(d, "every", 10)
		m.SnapshotSkipped(d, "every", "refused")
		m.SnapshotLoad(d, time.Millisecond)
		_, _ = call(context.Background(), &eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: d}},
			&grpc.UnaryServerInfo{FullMethod: "/evented.BusinessCoordinator/Handle"},
			func(context.Context, any) (any, error) { return nil, errors.New("refused") })
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"customer": true, "d0": true, "d1": true, OtherDomain: true}
	labelled := 0
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() != "domain" {
					continue
				}
				labelled++
				if !allowed[l.GetValue()] {
					t.Errorf("%s has domain label %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
	if labelled == 0 {
		t.Fatal("no metric has a domain label")
	}
}
