package cli_test

import (
	"database/sql"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/sdk"
)

// The debugging guide must work as written: these tests run its SQL and its
// grpcurl commands against a real server.
const debugging = "../../docs/howto/debugging.md"

// readmeBlock returns the first fenced block of lang after heading in the
// debugging guide.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile(debugging)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", debugging, heading)
	}
	_, rest, ok = strings.Cut(rest, "```"+lang+"\n")
	if !ok {
		t.Fatalf("%s has no ```%s block after %q", debugging, lang, heading)
	}
	block, _, _ := strings.Cut(rest, "```")
	return block
}

func TestREADMEIdsOfCust001(t *testing.T) {
	root := sdk.Root("cust-001")
	b, err := os.ReadFile(debugging)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root.String(), base64.StdEncoding.EncodeToString(root[:])} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not show %q, cust-001's root", debugging, want)
		}
	}
}

func TestREADMESQL(t *testing.T) {
	f := start(t)
	ok(t, "send", "customer", "cust-001", "examples.CreateCustomer", `{"name":"Alice","email":"alice@example.com"}`, f.cmd())
	ok(t, "send", "customer", "cust-001", "examples.AddLoyaltyPoints", `{"points":50}`, f.cmd())

	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	block := readmeBlock(t, "## SQLite directly", "sql")
	n := 0
	for stmt := range strings.SplitSeq(block, ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		n++
		rows, err := db.QueryContext(t.Context(), stmt)
		if err != nil {
			t.Errorf("README SQL fails: %v\n%s", err, stmt)
			continue
		}
		got := 0
		for rows.Next() {
			got++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("README SQL fails: %v\n%s", err, stmt)
		}
		rows.Close()
		// The queries of events and snapshots find what was sent (the
		// stub stores a snapshot on CreateCustomer); nothing is parked or
		// checkpointed here.
		subscriptions := strings.Contains(stmt, "FROM checkpoints") || strings.Contains(stmt, "FROM parked")
		if !subscriptions && (strings.Contains(stmt, "FROM events") || strings.Contains(stmt, "FROM snapshots") || strings.Contains(stmt, "PRAGMA")) {
			if got == 0 {
				t.Errorf("README SQL returns no rows:\n%s", stmt)
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d SQL statements in %s; the block changed shape?", n, debugging)
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestREADMEGrpcurl(t *testing.T) {
	grpcurl := testenv.LookPath(t, "grpcurl", "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3")
	f := start(t)
	// Two events, so that the README's Handle is sequence 2 and its Record
	// (num 3) the next one.
	ok(t, "send", "customer", "cust-001", "examples.CreateCustomer", `{"name":"Alice","email":"alice@example.com"}`, f.cmd())
	ok(t, "send", "customer", "cust-001", "examples.AddLoyaltyPoints", `{"points":50}`, f.cmd())

	s := strings.NewReplacer("localhost:1313", f.srv.CommandAddr(), "localhost:1314", f.srv.QueryAddr(),
		"grpcurl ", grpcurl+" ").Replace("set -euo pipefail\n" + readmeGrpcurlCommands(t))
	cmd := exec.Command("bash", "-c", s)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's grpcurl commands fail: %v\n%s\nscript:\n%s", err, out, s)
	}
	for _, want := range []string{`"num": 2`, `"num": 3`, "examples.LoyaltyPointsRedeemed", "SERVING", "evented.EventQuery"} {
		contains(t, "grpcurl output", string(out), want)
	}
}

// readmeGrpcurlCommands is the sh block of the grpcurl section (the one
// before it, which computes the base64 root with python3, is a console block
// that go test ./docs runs).
func readmeGrpcurlCommands(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(debugging)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n## With grpcurl\n")
	_, rest, ok := strings.Cut(rest, "```sh\n")
	cmds, _, _ := strings.Cut(rest, "```")
	if !ok || !strings.Contains(cmds, "evented.BusinessCoordinator/Record") {
		t.Fatalf("%s's grpcurl section has no sh block of the commands:\n%s", debugging, cmds)
	}
	return cmds
}
