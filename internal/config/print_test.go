package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestPrint(t *testing.T) {
	p := writeConfig(t, "storage:\n  type: postgres\nbusiness_logic:\n  - domain: customer\n    address: localhost:50052\n")
	cfg, src := mustLoad(t, p, "EVENTED_STORAGE__URL=postgres://evented:s3cret@db/events", "COMMAND_HANDLER_PORT=0")

	var b strings.Builder
	if err := Print(&b, cfg, src); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, line := range []string{
		"storage:\n",
		"  type: postgres # file " + p + "\n",
		"  path: ./data/events.db # default\n",
		"  url: postgres://evented:xxxxx@db/events # env EVENTED_STORAGE__URL\n",
		"  command_handler_port: 0 # env COMMAND_HANDLER_PORT\n",
		"  timeout: 10s # default\n",
		"business_logic: # file " + p + "\n  - domain: customer\n    address: localhost:50052\n",
		"projectors: [] # default\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("output shows the password:\n%s", out)
	}

	// Every leaf key is printed with its source.
	for k, s := range src {
		name := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(out, name+":") || !strings.Contains(out, "# "+s) {
			t.Errorf("output lacks %s with source %q", k, s)
		}
	}

	// The output is a config file that loads to the same configuration.
	back, _ := mustLoad(t, writeConfig(t, out))
	cfg.Storage.URL = "postgres://evented:xxxxx@db/events"
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("reloaded %+v\nwant     %+v", back, cfg)
	}
}
