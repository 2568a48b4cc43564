package acceptance

import (
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/cucumber/godog"
)

var tags = flag.String("godog.tags", "", "run only the scenarios matching this godog tag expression, e.g. @concurrency")

// TestAcceptance runs every scenario of features/*.feature. A failing,
// undefined or pending step fails the test.
func TestAcceptance(t *testing.T) {
	suite := godog.TestSuite{
		Name: "evented",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			w := newWorld(t)
			w.register(sc)
			sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
				return ctx, w.finish(ctx, err)
			})
		},
		Options: &godog.Options{
			Format:   "pretty",
			Paths:    []string{"features"},
			Tags:     *tags,
			TestingT: t,
			Strict:   true,
		},
	}
	if suite.Run() != 0 {
		t.Fatal("acceptance scenarios failed; see above")
	}
}

// finish ends a scenario: a failed action no step expected fails it, and
// evented and the stub must stop cleanly. When the scenario failed, evented's
// log is shown.
func (w *world) finish(ctx context.Context, scenarioErr error) error {
	err := errors.Join(w.uncheckedFailure(), w.down())
	if scenarioErr != nil || err != nil {
		godog.Logf(ctx, "evented's log:\n%s", w.logs.String())
	}
	return err
}
