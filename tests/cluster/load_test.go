package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
)

// load is a bounded run of commands: Commands AddItem commands spread over
// Aggregates orders, sent round robin to the replicas by Workers clients
// at Rate commands a second at most (0: no limit), stopped at Duration.
type load struct {
	Commands, Aggregates, Workers int
	Rate                          float64
	Duration                      time.Duration
}

// ack is an event a reply acknowledged: the command id is its payload.
type ack struct {
	agg agg
	seq uint32
	id  string
}

// loadResult is what the clients saw.
type loadResult struct {
	acks           []ack
	sent, answered int
	inline         int            // replies with the synchronous projector's projection
	failures       map[string]int // by gRPC code
	bad            []string       // replies that contradict the command
	elapsed        time.Duration
}

func (r loadResult) String() string {
	var codes []string
	for code, n := range r.failures {
		codes = append(codes, fmt.Sprintf("%s %d", code, n))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d commands sent in %v, %d acknowledged (%d events), failed: [%s]",
		r.sent, r.elapsed.Round(time.Millisecond), r.answered, len(r.acks), strings.Join(codes, ", "))
}

// drive runs l against the cluster; sent counts the commands handed to a
// client so far, for a fault schedule to follow.
func (c *cluster) drive(ctx context.Context, l load, sent *atomic.Int64) loadResult {
	ctx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()
	roots := make([]uuid.UUID, l.Aggregates)
	for i := range roots {
		roots[i] = uuid.New()
	}
	run := uuid.NewString()[:8]
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		var tick <-chan time.Time
		if l.Rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / l.Rate))
			defer t.Stop()
			tick = t.C
		}
		for i := range l.Commands {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case jobs <- i:
				sent.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()

	res := loadResult{failures: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	began := time.Now()
	for range l.Workers {
		wg.Go(func() {
			for i := range jobs {
				root := roots[i%len(roots)]
				r := c.replicas[i%len(c.replicas)]
				id := fmt.Sprintf("%s-%d", run, i)
				acks, inline, bad, err := send(ctx, r, root, id)
				mu.Lock()
				if inline {
					res.inline++
				}
				res.sent++
				switch {
				case err != nil:
					res.failures[status.Code(err).String()]++
				default:
					res.answered++
					res.acks = append(res.acks, acks...)
					res.bad = append(res.bad, bad...)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(began)
	return res
}

// send sends one AddItem with payload id to order root through r and
// returns the events its reply acknowledges.
func send(ctx context.Context, r *replica, root uuid.UUID, id string) (acks []ack, inline bool, bad []string, err error) {
	cmd, err := command(addItemType, id)
	if err != nil {
		return nil, false, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cover := &eventedpb.Cover{Domain: "order", Root: &eventedpb.UUID{Value: root[:]}}
	reply, err := r.commandClient.Handle(ctx, &eventedpb.CommandBook{
		Cover: cover,
		Pages: []*eventedpb.CommandPage{{Command: cmd}},
	})
	if err != nil {
		return nil, false, nil, err
	}
	for _, p := range reply.GetProjections() {
		inline = inline || p.GetProjector() == receiptsName
	}
	want := agg{domain: "order", root: root}
	for _, b := range reply.GetBooks() {
		if aggOf(b.GetCover()) != want {
			continue
		}
		for _, p := range b.GetPages() {
			if got := payloadText(p.GetEvent()); got != id || p.GetEvent().GetTypeUrl() != itemAddedType {
				bad = append(bad, fmt.Sprintf("%s: command %s acknowledged as %s %q at sequence %d", r.name, id, p.GetEvent().GetTypeUrl(), got, p.GetNum()))
				continue
			}
			acks = append(acks, ack{agg: want, seq: p.GetNum(), id: id})
		}
	}
	if len(acks) != 1 {
		bad = append(bad, fmt.Sprintf("%s: command %s acknowledged with %d events of %s, want 1", r.name, id, len(acks), want))
	}
	return acks, inline, bad, nil
}
