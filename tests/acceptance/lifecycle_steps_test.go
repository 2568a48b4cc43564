package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cucumber/godog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
)

func (w *world) registerLifecycle(sc *godog.ScenarioContext) {
	sc.Step(`^an operator rebuilds (?:projector|saga) "([^"]*)" from the beginning$`, w.rebuild)
	sc.Step(`^eventually (?:(?:projector|saga) "([^"]*)"|version (\d+) of projector "([^"]*)") has been given the events of aggregates? (.+) with sequences? (.+) again, as a replay$`, w.replayed)
	sc.Step(`^eventually (?:(?:projector|saga) "([^"]*)"|version (\d+) of projector "([^"]*)") has been given the event at sequence (\d+) of aggregate "([^"]*)" live, not as a replay$`, w.givenLive)
	sc.Step(`^version (\d+) of projector "([^"]*)" was never offered the event at sequence (\d+) of aggregate "([^"]*)"$`, func(v int, name string, seq int, agg string) error {
		return w.consumerNeverOffered(versionStub(name, v), uint32(seq), agg)
	})
	sc.Step(`^I send an? "([^"]*)" command for aggregate "([^"]*)" in domain "([^"]*)", waiting (?:at most (\d+)ms )?for projector "([^"]*)"$`, w.sendWaiting)
	sc.Step(`^the reply says projector "([^"]*)" had handled the command's events$`, func(name string) error { return w.waited(name, true) })
	sc.Step(`^the reply says projector "([^"]*)" had not handled the command's events when the wait ran out$`, func(name string) error { return w.waited(name, false) })
	sc.Step(`^projector "([^"]*)" has already received the event at sequence (\d+) of aggregate "([^"]*)"$`, w.alreadyReceived)
	sc.Step(`^version (\d+) of projector "([^"]*)" is deployed beside version 1$`, w.deployVersion)
	sc.Step(`^an operator cuts projector "([^"]*)" over to version (\d+)$`, w.cutOver)
}

// versionStub names the stub serving version v of projector name.
func versionStub(name string, v int) string { return delivery.VersionName(name, v) }

// stubNamed picks the stub a step names: "projector x" or "version N of
// projector x".
func stubNamed(name, version, versioned string) string {
	if versioned == "" {
		return name
	}
	var v int
	if _, err := fmt.Sscan(version, &v); err != nil {
		panic(fmt.Sprintf("version %q of a feature is not a number", version))
	}
	return versionStub(versioned, v)
}

func (w *world) rebuild(ctx context.Context, name string) error {
	if err := w.up(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := w.admin.ResetSubscription(ctx, &eventedpb.ResetRequest{Subscriber: name, To: &eventedpb.ResetRequest_Beginning{Beginning: true}})
	return err
}

func (w *world) replayed(ctx context.Context, name, version, versioned, list, seqs string) error {
	return w.expectDeliveries(ctx, stubNamed(name, version, versioned), list, seqs, true)
}

func (w *world) givenLive(ctx context.Context, name, version, versioned string, seq int, agg string) error {
	return w.expectLive(ctx, stubNamed(name, version, versioned), uint32(seq), agg)
}

// expectDeliveries waits until the stub has accepted, as replays, the
// events of each aggregate of list with the sequences seqs, each once.
func (w *world) expectDeliveries(ctx context.Context, stub, list, seqs string, replay bool) error {
	c, err := w.consumer(stub)
	if err != nil {
		return err
	}
	names, err := quotedList(list)
	if err != nil {
		return err
	}
	want, err := sequences(seqs)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("%s %q to be given the events again as a replay", c.kind, stub), func() error {
		for _, n := range names {
			cover, err := w.cover(n)
			if err != nil {
				return &finalError{err}
			}
			if got := c.acceptedAs(cover, replay); !slices.Equal(got, want) {
				return fmt.Errorf("%s %q was given the events of %q as a replay with the sequences %v, want %v each once and in order", c.kind, stub, n, got, want)
			}
		}
		return nil
	})
}

func (w *world) expectLive(ctx context.Context, stub string, seq uint32, agg string) error {
	c, err := w.consumer(stub)
	if err != nil {
		return err
	}
	cover, err := w.cover(agg)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("%s %q to be given event %d of %q live", c.kind, stub, seq, agg), func() error {
		if slices.Contains(c.acceptedAs(cover, true), seq) {
			return &finalError{fmt.Errorf("%s %q was given event %d of %q as a replay; it came after the rebuild", c.kind, stub, seq, agg)}
		}
		if !slices.Contains(c.acceptedAs(cover, false), seq) {
			return fmt.Errorf("%s %q has not been given event %d of %q live", c.kind, stub, seq, agg)
		}
		return nil
	})
}

func (w *world) sendWaiting(ctx context.Context, command, name, domain, ms, projector string) error {
	w.domains[name] = domain
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	kv := []string{"evented-wait-for", projector}
	if ms != "" {
		kv = append(kv, "evented-wait-timeout", ms+"ms")
	}
	cmd := commandBook(cover, command)
	if err := w.begin(ctx, fmt.Sprintf("the %q command", command)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, kv...), callTimeout)
	defer cancel()
	w.addressed = cover
	w.reply, w.err = w.commands.Handle(ctx, cmd, grpc.Trailer(&w.trailer))
	return nil
}

func (w *world) waited(name string, done bool) error {
	if w.err != nil {
		return fmt.Errorf("the command failed: %v", w.err)
	}
	waits := w.reply.GetWaits()
	if len(waits) != 1 || waits[0].GetSubscriber() != name || waits[0].GetDone() != done {
		return fmt.Errorf("the reply's waits are %v; want %s with done=%v", waits, name, done)
	}
	if !done && len(w.trailer.Get("evented-wait-expired")) != 1 {
		return fmt.Errorf("the reply's trailer %v does not name the wait that ran out", w.trailer)
	}
	return nil
}

func (w *world) alreadyReceived(name string, seq int, agg string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	cover, err := w.cover(agg)
	if err != nil {
		return err
	}
	if !slices.Contains(c.accepted(cover), uint32(seq)) {
		return fmt.Errorf("%s %q has not received event %d of %q (it has %v)", c.kind, name, seq, agg, c.accepted(cover))
	}
	return nil
}

// deployVersion runs version v of projector name beside version 1: the
// configuration names both, and evented is restarted with it (a rolling
// update does the same, one replica at a time).
func (w *world) deployVersion(ctx context.Context, v int, name string) error {
	old, err := w.consumer(name)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(w.cfg.Projectors, func(c config.Consumer) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("projector %q is not configured", name)
	}
	c := newStubConsumer(versionStub(name, v), old.kind, false)
	if err := c.start(); err != nil {
		return err
	}
	w.consumers = append(w.consumers, c)
	w.cfg.Projectors[i].Version = 1
	next := w.cfg.Projectors[i]
	next.Version, next.Address = v, c.addr
	w.cfg.Projectors = append(w.cfg.Projectors, next)
	return w.restart(ctx)
}

func (w *world) cutOver(ctx context.Context, name string, v int) error {
	if err := w.up(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := w.admin.CutOver(ctx, &eventedpb.CutOverRequest{Projector: name, Version: uint32(v)}); err != nil {
		return err
	}
	// Every replica sees the cut-over within a third of a lease: the
	// older versions retire.
	return waitFor(ctx, "the older versions to retire", func() error {
		stream, err := w.admin.ListSubscriptions(ctx, &emptypb.Empty{})
		if err != nil {
			return err
		}
		for {
			st, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if st.GetProjector() == name && int(st.GetVersion()) < v && st.GetState() != "retired" {
				return fmt.Errorf("version %d of %s is %s", st.GetVersion(), name, st.GetState())
			}
		}
	})
}
