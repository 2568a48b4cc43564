package cli_test

import (
	"strings"
	"testing"
	"time"
)

// TestStatus: evented status shows the overview as tables, names the
// projector that is down, and exits 1 because of it.
func TestStatus(t *testing.T) {
	f := start(t)
	admin := "--admin-addr=" + f.srv.AdminAddr()
	var out, errOut string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, "NO"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the projector down:\n%s", out)
		}
		out, errOut, _ = run(t, "status", admin)
	}
	contains(t, "status", out, "version", "storage", "sqlite", "log head", "events/s", "business_logic", "customer",
		"projector", "broken", "connection refused", "SUBSCRIPTION", "RETRIES", "receipt")
	contains(t, "status's error", errOut, "1 service(s) unreachable")
	if !strings.Contains(out, "receipt") || strings.Contains(strings.SplitN(out, "broken", 2)[0], " NO ") {
		t.Errorf("a reachable service is shown unreachable:\n%s", out)
	}
	contains(t, "status -o json", fails(t, "status", admin, "-o", "json"), "unreachable")
	contains(t, "status with nothing there", fails(t, "status", "--admin-addr=127.0.0.1:1"), "cannot reach evented's admin port")
}

// TestRecord: evented record appends pre-made events, with the optimistic
// check when asked.
func TestRecord(t *testing.T) {
	f := start(t)
	out := ok(t, "record", "customer", "rec-1", "examples.CustomerCreated", `{"name":"Rex","email":"r@x"}`,
		"examples.LoyaltyPointsAdded", `{"points":3}`, f.cmd())
	contains(t, "record", out, "examples.CustomerCreated", "examples.LoyaltyPointsAdded", `{"points":3}`)
	contains(t, "record --expect stale", fails(t, "record", "customer", "rec-1", "examples.LoyaltyPointsAdded", `{"points":1}`, "--expect", "0", f.cmd()), "sequence")
	ok(t, "record", "customer", "rec-1", "examples.LoyaltyPointsAdded", `{"points":1}`, "--expect", "2", f.cmd())
	contains(t, "events", ok(t, "events", "customer", "rec-1", f.qry()), `{"points":1}`)
	contains(t, "odd arguments", fails(t, "record", "customer", "rec-1", "examples.CustomerCreated", f.cmd()), "TYPE JSON pairs")
}
