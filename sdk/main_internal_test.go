package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination read while the server writes to it.
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

// TestServingIsLoggedAfterTheListen: Main's "serving" line names the bound
// address, which answers by then; a port that cannot be bound logs no
// "serving" line, only the error.
func TestServingIsLoggedAfterTheListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	if err := listenAndServe(t.Context(), log, taken.Addr().String(), nil, nil); err == nil {
		t.Fatal("serving on a taken port: no error")
	}
	if strings.Contains(logs.String(), "serving") {
		t.Errorf("a port that could not be bound was logged as serving:\n%s", logs.String())
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- listenAndServe(ctx, log, "127.0.0.1:0", nil, nil) }()
	defer func() { cancel(); <-done }()
	var line struct{ Msg, Addr string }
	for deadline := time.Now().Add(5 * time.Second); line.Msg != "serving"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no serving line:\n%s", logs.String())
		}
		_ = json.Unmarshal([]byte(logs.String()), &line)
	}
	if strings.HasSuffix(line.Addr, ":0") {
		t.Errorf("the serving line names %s, not the bound port", line.Addr)
	}
	c, err := net.Dial("tcp", line.Addr)
	if err != nil {
		t.Fatalf("the logged address does not answer: %v", err)
	}
	c.Close()
}
