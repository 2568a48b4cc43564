package testenv

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps what Fatalf and Skipf were told.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, a ...any) {
	if r.fatal == "" {
		r.fatal = fmt.Sprintf(f, a...)
	}
}
func (r *recorder) Skipf(f string, a ...any) { r.skip = fmt.Sprintf(f, a...) }

func TestSummaryLinePerNeed(t *testing.T) {
	got := summary("example.com/p", []Need{PostgreSQL, {Name: "grpcurl", Enable: "go install x@v1"}, Slow})
	want := "skip\texample.com/p\tPostgreSQL: set POSTGRES_TEST_URL (eval \"$(bash .ci/services.sh start postgres)\")\n" +
		"skip\texample.com/p\tgrpcurl: go install x@v1\n" +
		"skip\texample.com/p\tslow tests (examples built, container images, evented init's projects, the justfile's recipes): SLOW_TESTS=1 go test ./...\n"
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}

// TestSkipNotesOncePerNeed: many skips for one server make one line.
func TestSkipNotesOncePerNeed(t *testing.T) {
	defer reset(true)()
	t.Setenv("POSTGRES_TEST_URL", "")
	t.Setenv("CI", "")
	for range 3 {
		r := &recorder{TB: t}
		Getenv(r, PostgreSQL)
		if r.fatal != "" || r.skip == "" {
			t.Fatalf("Getenv without the variable: fatal %q, skip %q; want a skip", r.fatal, r.skip)
		}
	}
	if len(noted) != 1 || noted[0].Name != "PostgreSQL" {
		t.Errorf("noted %v, want PostgreSQL once", noted)
	}
}

// TestSkipWithoutMainFails: a package that would lose the summary line is
// told to add TestMain.
func TestSkipWithoutMainFails(t *testing.T) {
	defer reset(false)()
	r := &recorder{TB: t}
	Skip(r, Redis, "REDIS_TEST_URL is not set")
	if r.fatal == "" {
		t.Error("Skip without Main did not fail the test")
	}
}

// TestRequiredFailsInCI: in CI a missing server fails, never skips.
func TestRequiredFailsInCI(t *testing.T) {
	defer reset(true)()
	t.Setenv("REDIS_TEST_URL", "")
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	Getenv(r, Redis)
	if r.fatal == "" {
		t.Error("Getenv in CI without the variable did not fail")
	}
	t.Setenv("REDIS_TEST_URL", "redis://x")
	r = &recorder{TB: t}
	if got := Getenv(r, Redis); got != "redis://x" || r.fatal != "" || r.skip != "" {
		t.Errorf("Getenv with the variable: %q, fatal %q, skip %q", got, r.fatal, r.skip)
	}
}

func TestSlowTest(t *testing.T) {
	defer reset(true)()
	t.Setenv("SLOW_TESTS", "")
	r := &recorder{TB: t}
	SlowTest(r)
	if r.skip == "" {
		t.Error("SlowTest without SLOW_TESTS did not skip")
	}
	t.Setenv("SLOW_TESTS", "1")
	r = &recorder{TB: t}
	SlowTest(r)
	if r.skip != "" || r.fatal != "" {
		t.Errorf("SlowTest with SLOW_TESTS=1: skip %q, fatal %q", r.skip, r.fatal)
	}
}

// reset sets whether Main runs and forgets what was noted, and returns the
// undoing.
func reset(main bool) func() {
	mu.Lock()
	defer mu.Unlock()
	was, wasNoted := running, noted
	running, noted = main, nil
	return func() {
		mu.Lock()
		defer mu.Unlock()
		running, noted = was, wasNoted
	}
}
