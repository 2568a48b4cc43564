package server_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/testenv"
)

// pythonUpcaster is the chain of the Python SDK's tests as a service:
// StringValue v1 "x" → v2 "x|" → BytesValue v3 "x|none@example.com". It
// prints its port, and stops when its stdin closes.
const pythonUpcaster = `
import sys
import evented
from google.protobuf import wrappers_pb2 as w

up = evented.Upcaster("names")

@up.step(w.StringValue, from_version=1)
def v1(e):
    return w.StringValue(value=e.value + "|")

@up.step(w.StringValue, from_version=2, to=w.BytesValue)
def v2(e):
    return w.BytesValue(value=(e.value + "none@example.com").encode())

running = evented.start("127.0.0.1:0", up)
print(running.port, flush=True)
sys.stdin.read()
running.stop(0)
`

// python is the interpreter of the Python SDK's tests: $E2E_PYTHON, else
// the repository's .venv; the test is skipped, saying why, when neither
// imports grpc.
func python(t *testing.T) string {
	t.Helper()
	p := os.Getenv("E2E_PYTHON")
	if p == "" {
		p = filepath.Join("..", "..", ".venv", "bin", "python")
	}
	if err := exec.Command(p, "-c", "import grpc, google.protobuf").Run(); err != nil {
		testenv.Skip(t, testenv.Python, fmt.Sprintf("no Python with grpcio at %s: %v", p, err))
	}
	return p
}

// TestUpcastThroughPythonService runs the chain v1→v2→v3 in a Python
// process (the SDK's evented.Upcaster) and checks load, query and delivery.
func TestUpcastThroughPythonService(t *testing.T) {
	sdk, err := filepath.Abs(filepath.Join("..", "..", "sdk", "python", "src"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python(t), "-c", pythonUpcaster)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+sdk)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	var addr string
	select {
	case p := <-port:
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("the Python upcaster printed %q, not its port", p)
		}
		addr = "127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatal("the Python upcaster did not start within 30s")
	}

	str := func(s string) []byte { b, _ := proto.Marshal(wrapperspb.String(s)); return b }
	byt := func(s string) []byte { b, _ := proto.Marshal(wrapperspb.Bytes([]byte(s))); return b }
	const (
		stringURL = "type.googleapis.com/google.protobuf.StringValue"
		bytesURL  = "type.googleapis.com/google.protobuf.BytesValue"
	)
	cfg := config.Default()
	cfg.Upcasters = []config.Upcaster{{Domain: "customer", Address: addr, Steps: []config.UpcastStep{
		{Type: stringURL, FromVersion: 1}, {Type: stringURL, FromVersion: 2, To: bytesURL}}}}
	checkUpcastEverywhere(t, cfg, nil, []*eventedpb.EventPage{
		{Event: &anypb.Any{TypeUrl: stringURL, Value: str("ann")}},
		{Event: &anypb.Any{TypeUrl: stringURL, Value: str("bob|")}, Metadata: &eventedpb.EventMetadata{SchemaVersion: 2}},
		{Event: &anypb.Any{TypeUrl: bytesURL, Value: byt("cy|c@x")}, Metadata: &eventedpb.EventMetadata{SchemaVersion: 3}},
	}, []*anypb.Any{
		{TypeUrl: bytesURL, Value: byt("ann|none@example.com")},
		{TypeUrl: bytesURL, Value: byt("bob|none@example.com")},
		{TypeUrl: bytesURL, Value: byt("cy|c@x")},
	})
}
