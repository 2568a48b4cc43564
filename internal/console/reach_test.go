package console

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/outage"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReachLogsOncePerChange: a service that goes down is logged once at
// WARN however long it stays down, and once at INFO when it is back.
func TestReachLogsOncePerChange(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	var logs lockedBuffer
	r := NewReach([]Target{{Kind: "business_logic", Name: "customer", Address: addr}}, time.Hour, outage.New(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	r.checkAll(ctx)
	if st := r.States()[0]; !st.Reachable || st.LastError != "" {
		t.Fatalf("a listening service: %+v", st)
	}
	lis.Close()
	for range 3 {
		r.checkAll(ctx)
	}
	st := r.States()[0]
	if st.Reachable || st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Fatalf("a closed port: %+v", st)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "business_logic unreachable") || !strings.Contains(logs.String(), "name=customer") {
		t.Fatalf("want one WARN naming the service, got %d:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"business_logic not reachable (yet)") {
		t.Fatalf("the first failed check is not an INFO:\n%s", logs.String())
	}
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer back.Close()
	r.checkAll(ctx)
	r.checkAll(ctx)
	if n := strings.Count(logs.String(), "reachable again"); n != 1 || !r.States()[0].Reachable {
		t.Fatalf("want one INFO when it is back, got %d:\n%s", n, logs.String())
	}
}

// TestDialAddresses: gRPC targets and broker URLs are dialled at their host
// and port.
func TestDialAddresses(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	for _, a := range []string{"127.0.0.1:" + port, "dns:///127.0.0.1:" + port, "amqp://u:p@127.0.0.1:" + port + "/vh", "nats://127.0.0.1:" + port} {
		if err := dial(context.Background(), a, time.Second); err != nil {
			t.Errorf("dial %s: %v", a, err)
		}
	}
}

// TestReachOneFailedCheckIsNoWarning: a service that is not up yet at the
// first check (evented started first) and answers at the next is an INFO,
// never a WARN.
func TestReachOneFailedCheckIsNoWarning(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var logs lockedBuffer
	r := NewReach([]Target{{Kind: "projector", Name: "receipt", Address: addr}}, time.Hour, outage.New(slog.New(slog.NewTextHandler(&logs, nil))))
	r.checkAll(context.Background())
	up, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer up.Close()
	r.checkAll(context.Background())
	if strings.Contains(logs.String(), "level=WARN") || !r.States()[0].Reachable {
		t.Fatalf("one failed check then reachable: %+v\n%s", r.States()[0], logs.String())
	}
}
