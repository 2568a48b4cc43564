package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	bl := func(domain, addr string) BusinessLogic { return BusinessLogic{Domain: domain, Address: addr} }
	cons := func(name, addr string, domains ...string) Consumer {
		return Consumer{Name: name, Address: addr, Domains: domains}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"default", func(*Config) {}, ""},

		{"unknown storage type", func(c *Config) { c.Storage.Type = "mongo" },
			`storage.type: invalid value "mongo": want one of sqlite, memory, postgres, redis`},
		{"memory needs nothing", func(c *Config) { c.Storage = Storage{Type: "memory", Sync: "full"} }, ""},
		{"sqlite needs a path", func(c *Config) { c.Storage.Path = "" },
			"storage.path: empty: want the SQLite database file when storage.type is sqlite"},
		{"postgres needs a url", func(c *Config) { c.Storage.Type = "postgres" },
			"storage.url: empty: want a postgres://… URL when storage.type is postgres"},
		{"postgres url", func(c *Config) { c.Storage.Type, c.Storage.URL = "postgres", "postgres://u:p@db:5432/events" }, ""},
		{"postgresql url", func(c *Config) { c.Storage.Type, c.Storage.URL = "postgres", "postgresql://db/events" }, ""},
		{"postgres with a redis url", func(c *Config) { c.Storage.Type, c.Storage.URL = "postgres", "redis://localhost:6379" },
			`storage.url: invalid value "redis://localhost:6379": want a URL with scheme postgres or postgresql when storage.type is postgres`},
		{"redis needs a url", func(c *Config) { c.Storage.Type = "redis" },
			"storage.url: empty: want a redis://… URL when storage.type is redis"},
		{"redis url", func(c *Config) { c.Storage.Type, c.Storage.URL = "redis", "redis://localhost:6379/0" }, ""},
		{"rediss url", func(c *Config) { c.Storage.Type, c.Storage.URL = "redis", "rediss://cache:6380" }, ""},
		{"redis with a host only", func(c *Config) { c.Storage.Type, c.Storage.URL = "redis", "localhost:6379" },
			`storage.url: invalid value "localhost:6379": want a URL with scheme redis or rediss`},
		{"sqlite ignores url", func(c *Config) { c.Storage.URL = "anything" }, ""},
		{"bad sync", func(c *Config) { c.Storage.Sync = "fast" },
			`storage.sync: invalid value "fast": want one of full, normal`},
		{"normal sync", func(c *Config) { c.Storage.Sync = "normal" }, ""},
		{"projector publishes projections", func(c *Config) {
			c.Projectors = []Consumer{{Name: "view", Address: "localhost:50055", PublishProjections: true}}
		}, ""},
		{"saga publishes projections", func(c *Config) {
			c.Sagas = []Consumer{{Name: "loyalty", Address: "localhost:50054", PublishProjections: true}}
		}, "sagas[0].publish_projections: only projectors publish projections: remove it from sagas"},

		{"negative port", func(c *Config) { c.Server.CommandHandlerPort = -1 },
			"server.command_handler_port: invalid value -1: want a port from 1 to 65535, or 0 for any free port"},
		{"port too high", func(c *Config) { c.Server.EventQueryPort = 65536 },
			"server.event_query_port: invalid value 65536: want a port from 1 to 65535"},
		{"highest port", func(c *Config) { c.Server.EventQueryPort = 65535 }, ""},
		{"same ports", func(c *Config) { c.Server.EventQueryPort = c.Server.CommandHandlerPort },
			"server.event_query_port: 1313 is also server.command_handler_port: want two different ports"},
		{"two free ports", func(c *Config) { c.Server.CommandHandlerPort, c.Server.EventQueryPort = 0, 0 }, ""},
		{"empty host", func(c *Config) { c.Server.Host = "" },
			"server.host: empty: want the address to listen on"},
		{"negative shutdown timeout", func(c *Config) { c.Server.ShutdownTimeout = -time.Second },
			"server.shutdown_timeout: invalid value -1s: want 0 or more"},
		{"no shutdown grace", func(c *Config) { c.Server.ShutdownTimeout = 0 }, ""},

		{"no attempts", func(c *Config) { c.Command.MaxAttempts = 0 },
			"command.max_attempts: invalid value 0: want 1 or more"},
		{"one attempt", func(c *Config) { c.Command.MaxAttempts = 1 }, ""},
		{"no timeout", func(c *Config) { c.Command.Timeout = 0 },
			"command.timeout: invalid value 0s: want more than 0"},
		{"negative timeout", func(c *Config) { c.Command.Timeout = -time.Second },
			"command.timeout: invalid value -1s: want more than 0"},

		{"business logic", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{bl("customer", "localhost:50052"), bl("transaction", "[::1]:50053")}
		}, ""},
		{"business logic without domain", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("", "localhost:50052")} },
			"business_logic[0].domain: empty: want the domain"},
		{"business logic twice", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{bl("customer", "a:1"), bl("x", "b:1"), bl("customer", "c:1")}
		}, `business_logic[2].domain: "customer" is also business_logic[0]: want each domain once`},
		{"address without port", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("c", "localhost")} },
			`business_logic[0].address: invalid value "localhost": want host:port, such as localhost:50052`},
		{"address without host", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("c", ":50052")} },
			`business_logic[0].address: invalid value ":50052"`},
		{"address with port 0", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("c", "localhost:0")} },
			`business_logic[0].address: invalid value "localhost:0"`},
		{"address with named port", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("c", "localhost:grpc")} },
			`business_logic[0].address: invalid value "localhost:grpc"`},
		{"address with port too high", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("c", "localhost:65536")} },
			`business_logic[0].address: invalid value "localhost:65536"`},
		{"negative min_events", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{{Domain: "c", Address: "h:1", Snapshots: SnapshotPolicy{MinEvents: -1}}}
		}, "business_logic[0].snapshots.min_events: invalid value -1: want 0 or more"},

		{"consumers", func(c *Config) {
			c.Projectors = []Consumer{cons("receipt", "localhost:50055", "transaction")}
			c.Sagas = []Consumer{cons("receipt", "localhost:50054", "transaction", "customer")}
		}, ""},
		{"projector without name", func(c *Config) { c.Projectors = []Consumer{cons("", "h:1", "d")} },
			"projectors[0].name: empty: want the name"},
		{"saga without name", func(c *Config) { c.Sagas = []Consumer{cons("", "h:1", "d")} },
			"sagas[0].name: empty: want the name"},
		{"projector twice", func(c *Config) { c.Projectors = []Consumer{cons("p", "h:1", "d"), cons("p", "h:2", "d")} },
			`projectors[1].name: "p" is also projectors[0]: want each name once`},
		{"saga twice", func(c *Config) { c.Sagas = []Consumer{cons("s", "h:1", "d"), cons("s", "h:2", "d")} },
			`sagas[1].name: "s" is also sagas[0]: want each name once`},
		{"projector address", func(c *Config) { c.Projectors = []Consumer{cons("p", "h", "d")} },
			`projectors[0].address: invalid value "h": want host:port`},
		{"saga address", func(c *Config) { c.Sagas = []Consumer{cons("s", "", "d")} },
			`sagas[0].address: invalid value "": want host:port`},
		{"projector without domains listens to all", func(c *Config) { c.Projectors = []Consumer{cons("p", "h:1")} }, ""},
		{"consumer with negative attempts", func(c *Config) { c.Sagas = []Consumer{{Name: "s", Address: "h:1", MaxAttempts: -1}} },
			"sagas[0].max_attempts: invalid value -1"},
		{"delivery backoff upside down", func(c *Config) { c.Delivery.BackoffMax = time.Millisecond },
			"delivery.backoff_max: invalid value 1ms: want at least delivery.backoff_min (100ms)"},
		{"delivery without workers", func(c *Config) { c.Delivery.Workers = 0 }, "delivery.workers: invalid value 0"},
		{"unknown bus", func(c *Config) { c.Bus.Type = "kafka" }, `bus.type: invalid value "kafka": want one of none, inprocess, amqp, nats`},
		{"amqp bus without url", func(c *Config) { c.Bus.Type = "amqp" }, "bus.url: empty or not a URL: want a amqp:// URL"},
		{"nats bus with an amqp url", func(c *Config) { c.Bus = Bus{Type: "nats", URL: "amqp://h:5672"} }, `bus.url: invalid value "amqp://h:5672": want a URL with scheme nats or tls`},
		{"saga with an empty domain", func(c *Config) { c.Sagas = []Consumer{cons("s", "h:1", "d", "")} },
			"sagas[0].domains[1]: empty: want a domain name"},

		{"bad log level", func(c *Config) { c.Log.Level = "trace" },
			`log.level: invalid value "trace": want one of debug, info, warn, error`},
		{"bad log format", func(c *Config) { c.Log.Format = "yaml" },
			`log.format: invalid value "yaml": want one of auto, text, json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && err == nil:
				t.Errorf("got valid, want %s", tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), tt.want):
				t.Errorf("got  %v\nwant %s…", err, tt.want)
			case tt.want != "" && strings.Contains(err.Error(), "\n"):
				t.Errorf("got more than one problem:\n%v", err)
			}
		})
	}
}

func TestValidateHidesPasswords(t *testing.T) {
	c := Default()
	c.Storage.Type, c.Storage.URL = "postgres", "mysql://evented:s3cret@db/events"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "evented:xxxxx@db") {
		t.Errorf("got %v, want the URL shown with its password hidden", err)
	}
	c.Storage.URL = "postgres://evented:s3cret@db:port/events" // not a URL
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %v, want an error without the password", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c := Config{BusinessLogic: []BusinessLogic{{}}, Projectors: []Consumer{{}}}
	err := c.Validate()
	keys := []string{
		"storage.type", "storage.sync", "server.host", "command.max_attempts", "command.timeout", "command.idempotency_retention",
		"business_logic[0].domain", "business_logic[0].address",
		"projectors[0].name", "projectors[0].address",
		"delivery.max_attempts", "delivery.backoff_min", "delivery.timeout", "delivery.workers",
		"delivery.segments", "delivery.lease_ttl", "delivery.max_book_bytes", "bus.type",
		"tracing.exporter", "tracing.sample_ratio",
		"log.level", "log.format",
	}
	var problems []error
	if err != nil {
		problems = err.(interface{ Unwrap() []error }).Unwrap()
	}
	if len(problems) != len(keys) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(keys), err)
	}
	for i, p := range problems {
		var ke *keyError
		if !errors.As(p, &ke) || ke.key != keys[i] {
			t.Errorf("problem %d is %v, want one about %s", i, p, keys[i])
		}
	}
}
