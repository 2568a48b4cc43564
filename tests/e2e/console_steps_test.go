package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cucumber/godog"
)

// The console on the admin port, with the example shop running: every
// page's API call answers with the shop's data.
func (w *world) registerConsole(sc *godog.ScenarioContext) {
	sc.Step(`^the console's overview shows every example service reachable$`, w.consoleServicesReachable)
	sc.Step(`^the console shows customer "([^"]*)" with its events$`, w.consoleShowsCustomer)
	sc.Step(`^every page of the console answers$`, w.consolePagesAnswer)
}

// consoleGet GETs path of the console's API and decodes the JSON into v.
func (w *world) consoleGet(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.consoleURL+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

func (w *world) consoleServicesReachable(ctx context.Context) error {
	var o struct {
		Services []struct {
			Kind, Name, Address string
			Reachable           *bool
		}
	}
	// The checks run in the background: give them a few rounds.
	var down []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := w.consoleGet(ctx, "api/overview", &o); err != nil {
			return err
		}
		down = down[:0]
		for _, s := range o.Services {
			if s.Reachable == nil || !*s.Reachable {
				down = append(down, s.Kind+" "+s.Name+" at "+s.Address)
			}
		}
		if len(o.Services) >= len(services) && len(down) == 0 {
			return nil
		}
	}
	return fmt.Errorf("the overview lists %d services (want %d), not reachable: %v", len(o.Services), len(services), down)
}

func (w *world) consoleShowsCustomer(ctx context.Context, c string) error {
	root := w.root(c).String()
	var list struct {
		Aggregates []struct{ Domain, Root, Name string }
	}
	if err := w.consoleGet(ctx, "api/aggregates?domain=customer", &list); err != nil {
		return err
	}
	found := false
	for _, a := range list.Aggregates {
		found = found || (a.Domain == "customer" && a.Root == root)
	}
	if !found {
		return fmt.Errorf("customer %s is not among the console's %d customer aggregates", root, len(list.Aggregates))
	}
	var agg struct {
		Book struct {
			Events []struct {
				Type    string
				Payload json.RawMessage
			}
		}
	}
	if err := w.consoleGet(ctx, "api/aggregates/customer/"+root, &agg); err != nil {
		return err
	}
	if ev := agg.Book.Events; len(ev) == 0 || !strings.Contains(ev[0].Type, "CustomerCreated") || !strings.Contains(string(ev[0].Payload), "email") {
		return fmt.Errorf("the console shows customer %s's events as %+v; want CustomerCreated first, its payload decoded", root, ev)
	}
	return nil
}

func (w *world) consolePagesAnswer(ctx context.Context) error {
	for _, path := range []string{"", "api/log", "api/subscriptions", "api/parked", "api/types", "api/config", "api/deadlines"} {
		if err := w.consoleGet(ctx, path, nil); err != nil {
			return err
		}
	}
	return nil
}
