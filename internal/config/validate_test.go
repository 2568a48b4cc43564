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

		// Safe defaults: beyond loopback, TLS and authentication, or an
		// explicit server.insecure.
		{"default host is loopback", func(c *Config) {}, ""},
		{"localhost", func(c *Config) { c.Server.Host = "localhost" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Server.Host = "::1" }, ""},
		{"all interfaces, nothing", func(c *Config) { c.Server.Host = "0.0.0.0" },
			`server.host: "0.0.0.0" is not a loopback address, and the ports would have no TLS and no authentication: anyone who reaches them could read and write every event. ` +
				"Configure server.tls.cert_file and key_file and auth.tokens_file, auth.oidc or auth.mtls, or set server.insecure: true"},
		{"a host name, nothing", func(c *Config) { c.Server.Host = "evented.example.com" }, `server.host: "evented.example.com" is not a loopback address`},
		{"all interfaces, TLS only", func(c *Config) { c.Server.Host, c.Server.TLS = "0.0.0.0", TLS{CertFile: "c", KeyFile: "k"} },
			`server.host: "0.0.0.0" is not a loopback address, and the ports would have no authentication: anyone who reaches them could read and write every event. Configure auth.tokens_file, auth.oidc or auth.mtls, or set server.insecure: true`},
		{"all interfaces, auth only", func(c *Config) { c.Server.Host, c.Auth.TokensFile = "0.0.0.0", "tokens.yaml" },
			`server.host: "0.0.0.0" is not a loopback address, and the ports would have no TLS: anyone who reaches them could read and write every event. Configure server.tls.cert_file and key_file, or set server.insecure: true`},
		{"all interfaces, TLS and auth", func(c *Config) {
			c.Server.Host, c.Server.TLS, c.Auth.TokensFile = "0.0.0.0", TLS{CertFile: "c", KeyFile: "k"}, "tokens.yaml"
		}, ""},
		{"all interfaces, insecure", func(c *Config) { c.Server.Host, c.Server.Insecure = "0.0.0.0", true }, ""},

		{"cert without key", func(c *Config) { c.Server.TLS.CertFile = "c" },
			"server.tls.key_file: empty while server.tls.cert_file is set"},
		{"key without cert", func(c *Config) { c.Server.TLS.KeyFile = "k" },
			"server.tls.cert_file: empty while server.tls.key_file is set"},
		{"client CA without cert", func(c *Config) { c.Server.TLS.ClientCAFile = "ca" },
			"server.tls.client_ca_file: set without server.tls.cert_file"},
		{"oidc without audience", func(c *Config) { c.Auth.OIDC.Issuer = "https://login.example.com" },
			"auth.oidc.audience: empty: want the audience"},
		{"oidc issuer not a URL", func(c *Config) { c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "login.example.com", "evented" },
			`auth.oidc.issuer: invalid value "login.example.com": want an https:// URL`},
		{"oidc keys without issuer", func(c *Config) { c.Auth.OIDC.JWKSURL = "https://login.example.com/keys" },
			"auth.oidc.issuer: empty while other auth.oidc keys are set"},
		{"oidc", func(c *Config) { c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "https://login.example.com", "evented" }, ""},
		{"mtls without client CA", func(c *Config) {
			c.Server.TLS = TLS{CertFile: "c", KeyFile: "k"}
			c.Auth.MTLS = []MTLSIdentity{{Name: "billing", Roles: []string{"command"}}}
		}, "auth.mtls: set without server.tls.client_ca_file"},
		{"mtls roles", func(c *Config) {
			c.Server.TLS = TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}
			c.Auth.MTLS = []MTLSIdentity{{Name: "billing", Roles: []string{"command", "write"}}}
		}, `auth.mtls[0].roles[1]: invalid value "write": want one of command, record, query, admin`},
		{"mtls admin limited to domains", func(c *Config) {
			c.Server.TLS = TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}
			c.Auth.MTLS = []MTLSIdentity{{Name: "ops", Roles: []string{"admin"}, Domains: []string{"customer"}}}
		}, "auth.mtls[0].domains: set with role admin"},
		{"mtls without roles", func(c *Config) {
			c.Server.TLS = TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}
			c.Auth.MTLS = []MTLSIdentity{{Name: "ops"}}
		}, "auth.mtls[0].roles: empty: want one or more of command, record, query, admin"},

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
		{"snapshots kept beyond the bound", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{{Domain: "customer", Address: "localhost:50052", Snapshots: SnapshotPolicy{Keep: 101}}}
		}, "business_logic[0].snapshots.keep: invalid value 101: want 1 to 100 snapshots per aggregate (0 means 1, the latest)"},
		{"negative snapshots kept", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{{Domain: "customer", Address: "localhost:50052", Snapshots: SnapshotPolicy{Keep: -1}}}
		}, "business_logic[0].snapshots.keep: invalid value -1: want 1 to 100 snapshots per aggregate (0 means 1, the latest)"},
		{"negative snapshot every", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{{Domain: "c", Address: "h:1", Snapshots: SnapshotPolicy{Every: -5}}}
		}, "business_logic[0].snapshots.every: invalid value -5: want 0 (off) or more"},
		{"negative snapshot idle", func(c *Config) {
			c.BusinessLogic = []BusinessLogic{{Domain: "c", Address: "h:1", Snapshots: SnapshotPolicy{Idle: -time.Second}}}
		}, "business_logic[0].snapshots.idle: invalid value -1s: want 0 (off) or more"},

		{"consumers", func(c *Config) {
			c.Projectors = []Consumer{cons("receipt", "localhost:50055", "transaction")}
			c.Sagas = []Consumer{cons("loyalty", "localhost:50054", "transaction", "customer")}
		}, ""},
		{"projector without name", func(c *Config) { c.Projectors = []Consumer{cons("", "h:1", "d")} },
			"projectors[0].name: empty: want the name"},
		{"saga without name", func(c *Config) { c.Sagas = []Consumer{cons("", "h:1", "d")} },
			"sagas[0].name: empty: want the name"},
		{"projector twice", func(c *Config) { c.Projectors = []Consumer{cons("p", "h:1", "d"), cons("p", "h:2", "d")} },
			`projectors[1].name: "p" is also projectors[0]: want each name (or version of it) once`},
		{"two versions of a projector", func(c *Config) {
			v1, v2 := cons("p", "h:1", "d"), cons("p", "h:2", "d")
			v1.Version, v2.Version, v2.Cutover = 1, 2, "auto"
			c.Projectors = []Consumer{v1, v2}
		}, ""},
		{"one version twice", func(c *Config) {
			v1, v2 := cons("p", "h:1", "d"), cons("p", "h:2", "d")
			v1.Version, v2.Version = 2, 2
			c.Projectors = []Consumer{v1, v2}
		}, `projectors[1].name: "p version 2" is also projectors[0]`},
		{"saga version", func(c *Config) { s := cons("s", "h:1"); s.Version = 2; c.Sagas = []Consumer{s} },
			`sagas[0].version: set on a saga`},
		{"negative version", func(c *Config) { p := cons("p", "h:1"); p.Version = -1; c.Projectors = []Consumer{p} },
			`projectors[0].version: invalid value -1`},
		{"cutover without version", func(c *Config) { p := cons("p", "h:1"); p.Cutover = "auto"; c.Projectors = []Consumer{p} },
			`projectors[0].cutover: set without version`},
		{"cutover value", func(c *Config) { p := cons("p", "h:1"); p.Version, p.Cutover = 2, "now"; c.Projectors = []Consumer{p} },
			`projectors[0].cutover: invalid value "now"`},
		{"consumer name characters", func(c *Config) { c.Projectors = []Consumer{cons("p@v2", "h:1")} },
			`projectors[0].name: "p@v2": character '@' is not allowed`},
		{"saga twice", func(c *Config) { c.Sagas = []Consumer{cons("s", "h:1", "d"), cons("s", "h:2", "d")} },
			`sagas[1].name: "s" is also sagas[0]: want each name once`},
		{"saga named as a projector", func(c *Config) {
			c.Projectors, c.Sagas = []Consumer{cons("loyalty", "h:1", "d")}, []Consumer{cons("loyalty", "h:2", "d")}
		}, `sagas[0].name: "loyalty" is also projectors[0]: projectors and sagas share their names`},
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
		{"bus in flight out of range", func(c *Config) { c.Bus.InFlight = 5000 }, "bus.in_flight: invalid value 5000: want 1 to 4096"},
		{"nats bus with an amqp url", func(c *Config) { c.Bus = Bus{Type: "nats", URL: "amqp://h:5672"} }, `bus.url: invalid value "amqp://h:5672": want a URL with scheme nats or tls`},
		{"saga with an empty domain", func(c *Config) { c.Sagas = []Consumer{cons("s", "h:1", "d", "")} },
			"sagas[0].domains[1]: empty: want a domain name"},
		{"configured domain with a space", func(c *Config) { c.BusinessLogic = []BusinessLogic{bl("a b", "localhost:1")} },
			`business_logic[0].domain: domain "a b": character ' ' at byte 1 is not allowed: want letters, digits`},
		{"consumer domain with a wildcard", func(c *Config) { c.Sagas = []Consumer{cons("s", "localhost:1", "orders.>")} },
			`sagas[0].domains[0]: domain "orders.>": character '>' at byte 7 is not allowed`},
		{"configured domain too long", func(c *Config) {
			c.Limits.MaxDomainLength = 8
			c.BusinessLogic = []BusinessLogic{bl("customers", "localhost:1")}
		}, "business_logic[0].domain: domain is 9 bytes long: want at most 8 bytes"},
		{"domain length beyond a routing key", func(c *Config) { c.Limits.MaxDomainLength = 300 },
			"limits.max_domain_length: invalid value 300: want 1 to 222"},
		{"request size too small", func(c *Config) { c.Limits.MaxRequestBytes = 1000 },
			"limits.max_request_bytes: invalid value 1000: want 65536 to 1073741824 (bytes)"},
		{"event as large as a request", func(c *Config) { c.Limits.MaxEventBytes = c.Limits.MaxRequestBytes },
			"limits.max_event_bytes: invalid value 4194304: want less than limits.max_request_bytes (4194304)"},
		{"no pages", func(c *Config) { c.Limits.MaxPages = 0 }, "limits.max_pages: invalid value 0: want 1 or more"},
		{"no streams", func(c *Config) { c.Limits.MaxStreams = 0 }, "limits.max_streams: invalid value 0: want 1 or more"},
		{"negative rate", func(c *Config) { c.Limits.RatePerClient = -1 }, "limits.rate_per_client: invalid value -1: want 0 (no limit) or more"},
		{"rate on", func(c *Config) { c.Limits.RatePerClient = 50 }, ""},
		{"no burst", func(c *Config) { c.Limits.RateBurst = 0 }, "limits.rate_burst: invalid value 0: want 1 or more"},
		{"metrics domains", func(c *Config) { c.Limits.MetricsDomains = -1 }, "limits.metrics_domains: invalid value -1: want 0 to 10000"},
		{"negative cache", func(c *Config) { c.Command.CacheBytes = -1 }, "command.cache_bytes: invalid value -1: want 0 (keep none) or more"},
		{"no cache", func(c *Config) { c.Command.CacheBytes = 0 }, ""},
		{"no concurrency", func(c *Config) { c.Command.MaxConcurrent = 0 }, "command.max_concurrent: invalid value 0: want 1 or more"},
		{"negative queue wait", func(c *Config) { c.Command.QueueWait = -time.Second }, "command.queue_wait: invalid value -1s: want 0 (refuse at once) or more"},

		{"bad log level", func(c *Config) { c.Log.Level = "verbose" },
			`log.level: invalid value "verbose": want one of trace, debug, info, warn, error, off`},
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
		"command.max_concurrent", "limits.max_request_bytes", "limits.max_response_bytes", "limits.max_call_bytes",
		"limits.max_pages", "limits.max_event_bytes", "limits.max_domain_length", "limits.max_streams", "limits.rate_burst",
		"business_logic[0].domain", "business_logic[0].address",
		"projectors[0].name", "projectors[0].address",
		"delivery.max_attempts", "delivery.backoff_min", "delivery.timeout", "delivery.workers",
		"delivery.segments", "delivery.lease_ttl", "delivery.max_book_bytes",
		"deadlines.segments", "deadlines.poll", "deadlines.batch", "deadlines.concurrency", "bus.type",
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
