package outage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOneWarningPerOutage: however many parts report a service down, and
// however often, the log has one WARN naming it, then one INFO when it is
// back; an outage right after is not warned about (a flap), one later is;
// a long one is reminded of.
func TestOneWarningPerOutage(t *testing.T) {
	var buf bytes.Buffer
	tr := New(slog.New(slog.NewTextHandler(&buf, nil)))
	clock := time.Now()
	tr.now = func() time.Time { return clock }
	down := errors.New("connection refused")
	checks := tr.Service("business_logic", "customer", "127.0.0.1:1")
	commands := tr.Service("business_logic", "customer", "")
	if checks != commands {
		t.Fatal("two handles for one service")
	}
	checks.Doubt(down)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { commands.Down(down) })
	}
	wg.Wait()
	checks.Down(down)
	checks.Doubt(down)
	logs := buf.String()
	if n := strings.Count(logs, "level=WARN"); n != 1 || !strings.Contains(logs, "name=customer") || !strings.Contains(logs, "address=127.0.0.1:1") {
		t.Fatalf("want one WARN naming the service and its address, got %d:\n%s", n, logs)
	}
	if n := strings.Count(logs, "not reachable (yet)"); n != 1 {
		t.Fatalf("want the first failed check's INFO once, got %d:\n%s", n, logs)
	}
	commands.Up()
	checks.Up()
	if n := strings.Count(buf.String(), "reachable again"); n != 1 {
		t.Fatalf("want one INFO when it is back, got %d:\n%s", n, buf.String())
	}
	clock = clock.Add(QuietFor / 2)
	commands.Down(down)
	commands.Up()
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 || strings.Count(buf.String(), "reachable again") != 1 {
		t.Fatalf("a flap within QuietFor: want no WARN and no INFO\n%s", buf.String())
	}
	clock = clock.Add(QuietFor)
	commands.Down(down)
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("a new outage warns again: %d WARNs\n%s", n, buf.String())
	}
	clock = clock.Add(RemindEvery - time.Second)
	checks.Down(down)
	clock = clock.Add(time.Second)
	checks.Down(down)
	if n := strings.Count(buf.String(), "level=WARN"); n != 3 {
		t.Fatalf("a reminder after RemindEvery: %d WARNs\n%s", n, buf.String())
	}
	var none *Service
	none.Down(down)
	none.Up()
}

// TestDoubtAloneIsNoWarning: one failed check followed by an answer logs
// no WARN and no "back" INFO.
func TestDoubtAloneIsNoWarning(t *testing.T) {
	var buf bytes.Buffer
	s := New(slog.New(slog.NewTextHandler(&buf, nil))).Service("projector", "receipt", "x")
	s.Doubt(errors.New("refused"))
	s.Up()
	if strings.Contains(buf.String(), "WARN") || strings.Contains(buf.String(), "reachable again") {
		t.Fatalf("%s", buf.String())
	}
}
