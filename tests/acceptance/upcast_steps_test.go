package acceptance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/cucumber/godog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

func (w *world) registerUpcasting(sc *godog.ScenarioContext) {
	sc.Given(`^an upcaster service turns "([^"]*)" events of domain "([^"]*)" from version (\d+) into version (\d+)(?: as "([^"]*)")?$`, w.upcasterStep)
	sc.When(`^evented starts$`, w.eventedStarts)
	sc.Then(`^evented refuses to start, saying "([^"]*)"$`, w.refusedToStart)
	sc.Then(`^the business logic was given the prior events:$`, w.givenPriorEvents)
	sc.Then(`^eventually projector "([^"]*)" has received aggregate "([^"]*)" as:$`, w.projectorReceivedAs)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		w.stopUpcaster()
		return ctx, nil
	})
}

// stubUpcaster raises each event one version, renaming its type as its
// configured step says; it serves every step the scenario configured.
type stubUpcaster struct {
	eventedpb.UnimplementedUpcasterServer
	addr string
	srv  *grpc.Server
	mu   sync.Mutex
	to   map[string]string // "type vN" → type URL of vN+1
}

func (u *stubUpcaster) Upcast(_ context.Context, req *eventedpb.UpcastRequest) (*eventedpb.UpcastResponse, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := &eventedpb.UpcastResponse{}
	for _, e := range req.GetEvents() {
		v := max(e.GetSchemaVersion(), 1)
		to, ok := u.to[fmt.Sprintf("%s v%d", e.GetEvent().GetTypeUrl(), v)]
		if !ok {
			return nil, fmt.Errorf("no step for %s v%d", e.GetEvent().GetTypeUrl(), v)
		}
		out.Events = append(out.Events, &eventedpb.UpcastEvent{
			Event: &anypb.Any{TypeUrl: to, Value: e.GetEvent().GetValue()}, SchemaVersion: v + 1})
	}
	return out, nil
}

var upcasters sync.Map // *world → *stubUpcaster

func (w *world) upcasterStep(event, domain string, from, to int, as string) error {
	if err := w.configure("an upcaster"); err != nil {
		return err
	}
	if to != from+1 {
		return fmt.Errorf("an upcaster step goes from one version to the next, not %d to %d", from, to)
	}
	v, _ := upcasters.Load(w)
	u, _ := v.(*stubUpcaster)
	if u == nil {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		u = &stubUpcaster{addr: lis.Addr().String(), srv: grpc.NewServer(), to: map[string]string{}}
		eventedpb.RegisterUpcasterServer(u.srv, u)
		go u.srv.Serve(lis)
		upcasters.Store(w, u)
	}
	target := event
	if as != "" {
		target = as
	}
	u.mu.Lock()
	u.to[fmt.Sprintf("%s v%d", typeURL(event), from)] = typeURL(target)
	u.mu.Unlock()
	step := config.UpcastStep{Type: typeURL(event), FromVersion: from, To: typeURL(target)}
	for i := range w.cfg.Upcasters {
		if w.cfg.Upcasters[i].Domain == domain {
			w.cfg.Upcasters[i].Steps = append(w.cfg.Upcasters[i].Steps, step)
			return nil
		}
	}
	w.cfg.Upcasters = append(w.cfg.Upcasters, config.Upcaster{Domain: domain, Address: u.addr, Steps: []config.UpcastStep{step}})
	return nil
}

// stopUpcaster stops the scenario's stub upcaster, if any.
func (w *world) stopUpcaster() {
	if v, ok := upcasters.LoadAndDelete(w); ok {
		v.(*stubUpcaster).srv.Stop()
	}
}

func (w *world) eventedStarts(ctx context.Context) error {
	w.action = "starting evented"
	w.err = w.up(ctx)
	return nil
}

func (w *world) refusedToStart(msg string) error {
	if w.err == nil {
		return errors.New("evented started; want it to refuse")
	}
	w.errExpected = true
	if !strings.Contains(w.err.Error(), msg) {
		return fmt.Errorf("evented refused to start with %q; want it to say %q", w.err, msg)
	}
	return nil
}

func (w *world) givenPriorEvents(table *godog.Table) error {
	want, err := eventTable(table)
	if err != nil {
		return err
	}
	req, err := w.lastRequest()
	if err != nil {
		return err
	}
	return w.sameEvents("the prior events the business logic was given", req.GetEvents().GetPages(), want)
}

// projectorReceivedAs waits until the projector's model of the aggregate
// holds the events of the table, by sequence and type.
func (w *world) projectorReceivedAs(ctx context.Context, name, aggregate string, table *godog.Table) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	cover, err := w.cover(aggregate)
	if err != nil {
		return err
	}
	want, err := eventTable(table)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("projector %q's events of %q", name, aggregate), func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		m := c.model[coverKey(cover)]
		var got []string
		for seq, line := range m {
			typ, _, _ := strings.Cut(line, ":")
			got = append(got, fmt.Sprintf("%d %s", seq, typ))
		}
		sort.Strings(got)
		var exp []string
		for _, r := range want {
			exp = append(exp, fmt.Sprintf("%d %s", r.sequence, r.eventType))
		}
		sort.Strings(exp)
		if strings.Join(got, ", ") != strings.Join(exp, ", ") {
			return fmt.Errorf("received %v; want %v", got, exp)
		}
		return nil
	})
}
