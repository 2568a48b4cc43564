package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/tests/internal/proc"
)

// balanceProjector is the name examples/config.yaml gives the loyalty
// balance projector (the service projector-loyalty).
const balanceProjector = "loyalty-balance"

// registerLoyaltyBalance binds the steps of the loyalty balance read model:
// read-your-writes on it, and watching it with a subscription query.
func (w *world) registerLoyaltyBalance(sc *godog.ScenarioContext) {
	sc.Step(`^the loyalty balance already shows customer "([^"]*)" named "([^"]*)" with (\d+) points$`, w.balanceAlreadyShows)
	sc.Step(`^I watch the loyalty balance of customer "([^"]*)"$`, w.startWatching)
	sc.Step(`^the watch shows customer "([^"]*)" named "([^"]*)" with (\d+) points$`, w.watchShows)
}

// balanceAlreadyShows reads the balance the projector published — what
// evented keeps of its answer, the current projection a subscription query
// starts with — right after the last command, without waiting for it: it
// must reflect the customer's newest event in that command's reply.
func (w *world) balanceAlreadyShows(ctx context.Context, c, name string, points int32) error {
	reply, err := w.reply()
	if err != nil {
		return err
	}
	cover := coverOf("customer", w.root(c))
	newest := int64(-1)
	for _, b := range reply.GetBooks() {
		if proto.Equal(b.GetCover(), cover) {
			for _, p := range b.GetPages() {
				newest = max(newest, int64(p.GetNum()))
			}
		}
	}
	if newest < 0 {
		return fmt.Errorf("the last command stored no event of customer %q", c)
	}
	// The current projection is sent at once when there is one; a second
	// is plenty, and running out means none was published.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stream, err := w.projections.Subscribe(ctx, &eventedpb.ProjectionSubscription{Projector: balanceProjector, Cover: cover})
	if err != nil {
		return err
	}
	u, err := stream.Recv()
	if status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%s has published no balance of customer %q", balanceProjector, c)
	}
	if err != nil {
		return err
	}
	p := u.GetProjection()
	if int64(p.GetSequence()) < newest {
		return fmt.Errorf("the published balance reflects the customer's events up to %d, not the command's event %d: the read was not its write", p.GetSequence(), newest)
	}
	var b examplespb.LoyaltyBalance
	if err := p.GetProjection().UnmarshalTo(&b); err != nil {
		return fmt.Errorf("the projection of %s: %w", balanceProjector, err)
	}
	return checkBalance(&b, w.root(c).String(), name, points)
}

func checkBalance(b *examplespb.LoyaltyBalance, customer, name string, points int32) error {
	if b.GetCustomerId() != customer || b.GetName() != name || b.GetPoints() != points {
		return fmt.Errorf("the balance is %d points of %q (%s), want %d points of %q (%s)",
			b.GetPoints(), b.GetName(), b.GetCustomerId(), points, name, customer)
	}
	return nil
}

// watch is loyalty-watch running for one scenario.
type watch struct {
	p           *proc.Process
	shown       int    // lines of its output the steps have checked
	lastVersion uint64 // of the last line checked
}

// startWatching runs the Go example client loyalty-watch for the customer:
// it prints the current balance and every new one evented pushes.
func (w *world) startWatching(c string) error {
	if w.watch != nil {
		return errors.New("this scenario already watches a balance")
	}
	cmd := exec.Command(w.watcher, "-query-addr", w.queryAddr, w.root(c).String())
	p, err := proc.Start("loyalty-watch-"+w.token, cmd, w.dir)
	if err != nil {
		return err
	}
	w.watch = &watch{p: p}
	return nil
}

// stopWatching stops loyalty-watch; it reports one that stopped by itself.
func (w *world) stopWatching() error {
	if w.watch == nil {
		return nil
	}
	err := w.watch.p.Stop(5 * time.Second)
	w.watch = nil
	return err
}

// A line of loyalty-watch (examples/go/loyalty-watch, Line).
var watchLine = regexp.MustCompile(`^version=(\d+) sequence=(\d+) customer=(\S+) name=("(?:[^"\\]|\\.)*") points=(-?\d+) lifetime=(-?\d+)$`)

// watchShows checks the next line loyalty-watch prints, waiting for it (at
// most 20 s): it must be the balance given, at a version after the line
// before — the updates come each once, in order.
func (w *world) watchShows(ctx context.Context, c, name string, points int32) error {
	if w.watch == nil {
		return errors.New("no balance is watched: add the step I watch the loyalty balance of customer")
	}
	line, err := w.watch.next(ctx, 20*time.Second)
	if err != nil {
		return err
	}
	m := watchLine.FindStringSubmatch(line)
	if m == nil {
		return fmt.Errorf("loyalty-watch printed %q, not a balance", line)
	}
	version, _ := strconv.ParseUint(m[1], 10, 64)
	if version <= w.watch.lastVersion {
		return fmt.Errorf("loyalty-watch printed version %d after version %d: %q", version, w.watch.lastVersion, line)
	}
	w.watch.lastVersion = version
	gotName, err := strconv.Unquote(m[4])
	if err != nil {
		return fmt.Errorf("loyalty-watch printed name %s: %w", m[4], err)
	}
	gotPoints, _ := strconv.ParseInt(m[5], 10, 32)
	return checkBalance(&examplespb.LoyaltyBalance{CustomerId: m[3], Name: gotName, Points: int32(gotPoints)}, w.root(c).String(), name, points)
}

// next returns the first line of output the steps have not checked yet,
// waiting at most limit for it.
func (v *watch) next(ctx context.Context, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		lines, err := completeLines(v.p.Stdout)
		if err != nil {
			return "", err
		}
		if len(lines) > v.shown {
			v.shown++
			return lines[v.shown-1], nil
		}
		select {
		case <-v.p.Exited():
			return "", fmt.Errorf("loyalty-watch stopped: %v\n%s", v.p.ExitErr(), v.p.Tail())
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("loyalty-watch printed no line %d within %s\n%s", v.shown+1, limit, v.p.Tail())
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// completeLines reads the lines of a file that end with a newline.
func completeLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil, nil
	}
	return strings.Split(string(data[:end]), "\n"), nil
}
