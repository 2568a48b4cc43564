package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/google/uuid"
)

// childDBEnv switches TestKillChild on and names its database file.
const childDBEnv = "EVENTED_SQLITE_KILL_CHILD_DB"

// TestKill9 checks durability: a child process appends and prints each
// acknowledged append; the parent reads a few hundred acknowledgements,
// kills the child with SIGKILL, and finds every acknowledged event in the
// file with its payload.
func TestKill9(t *testing.T) {
	const wantAcks = 300
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	type ack struct {
		root uuid.UUID
		seq  uint32
	}
	var acks []ack
	lines := bufio.NewScanner(out)
	for len(acks) < wantAcks && lines.Scan() {
		var a ack
		var root string
		if _, err := fmt.Sscanf(lines.Text(), "ack %s %d", &root, &a.seq); err != nil {
			continue // the test framework's own output
		}
		a.root = uuid.MustParse(root)
		acks = append(acks, a)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acks) < wantAcks {
		t.Fatalf("child acknowledged %d appends before ending; want %d. stderr:\n%s", len(acks), wantAcks, stderr.String())
	}

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	streams := map[uuid.UUID][]eventstore.Event{}
	for _, a := range acks {
		if _, ok := streams[a.root]; !ok {
			if streams[a.root], err = s.Read(ctx, killCover(a.root), 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		events := streams[a.root]
		if a.seq >= uint32(len(events)) {
			t.Errorf("acknowledged %s/%d lost: stream has %d events", a.root, a.seq, len(events))
			continue
		}
		if e := events[a.seq]; e.Sequence != a.seq || string(e.Payload) != killPayload(a.root, a.seq) {
			t.Errorf("acknowledged %s/%d reads back as sequence %d, payload %q", a.root, a.seq, e.Sequence, e.Payload)
		}
	}
	t.Logf("%d acknowledged appends over %d streams all survived SIGKILL", len(acks), len(streams))
}

func killCover(root uuid.UUID) eventstore.Cover { return eventstore.Cover{Domain: "kill", Root: root} }

func killPayload(root uuid.UUID, seq uint32) string { return fmt.Sprintf("%s/%d", root, seq) }

// TestKillChild is the child process of TestKill9: several writers append
// and print "ack <root> <sequence>" once each append returns. It runs only
// when TestKill9 starts it, and stops by itself should the kill not come.
func TestKillChild(t *testing.T) {
	path := os.Getenv(childDBEnv)
	if path == "" {
		t.Skip("child process of TestKill9")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		root := uuid.New()
		wg.Go(func() {
			for seq := range uint32(100_000) {
				page := eventstore.Page{HasNum: true, Num: seq, TypeURL: "t", Payload: []byte(killPayload(root, seq))}
				if _, err := s.Append(ctx, killCover(root), []eventstore.Page{page}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Printf("ack %s %d\n", root, seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
