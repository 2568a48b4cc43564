package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file into a fresh directory and returns its path.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "evented.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// inEmptyDir runs the test in an empty working directory, so that no
// ./config.yaml is found by accident.
func inEmptyDir(t *testing.T) string {
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// envOf returns a lookup function over "NAME=value" pairs, the process
// environment of one test.
func envOf(environ ...string) func(string) string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(name string) string { return m[name] }
}

func mustLoad(t *testing.T, path string, environ ...string) (Config, Sources) {
	t.Helper()
	cfg, src, err := Load(path, envOf(environ...))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, src
}

func TestLoadDefaults(t *testing.T) {
	inEmptyDir(t)
	cfg, src := mustLoad(t, "")
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("got %+v, want Default() %+v", cfg, Default())
	}
	keys := leafKeys(reflect.TypeFor[Config](), "")
	if len(src) != len(keys) {
		t.Errorf("got %d sources, want one per leaf key (%d): %v", len(src), len(keys), src)
	}
	for _, k := range keys {
		if src[k] != "default" {
			t.Errorf("source of %s = %q, want default", k, src[k])
		}
	}
}

func TestLoadFileChoice(t *testing.T) {
	explicit := writeConfig(t, "storage: {type: memory}\n")
	fromEnv := writeConfig(t, "storage: {type: sqlite, path: from-env.db}\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	t.Run("path", func(t *testing.T) {
		inEmptyDir(t)
		cfg, src := mustLoad(t, explicit, "EVENTED_CONFIG="+fromEnv)
		if cfg.Storage.Type != "memory" || src["storage.type"] != "file "+explicit {
			t.Errorf("got type %q from %q, want memory from %s", cfg.Storage.Type, src["storage.type"], explicit)
		}
	})
	t.Run("EVENTED_CONFIG", func(t *testing.T) {
		inEmptyDir(t)
		cfg, _ := mustLoad(t, "", "EVENTED_CONFIG="+fromEnv)
		if cfg.Storage.Path != "from-env.db" {
			t.Errorf("got path %q, want from-env.db", cfg.Storage.Path)
		}
	})
	t.Run("./config.yaml", func(t *testing.T) {
		dir := inEmptyDir(t)
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("log: {level: debug}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, src := mustLoad(t, "")
		if cfg.Log.Level != "debug" || src["log.level"] != "file config.yaml" {
			t.Errorf("got level %q from %q, want debug from file config.yaml", cfg.Log.Level, src["log.level"])
		}
	})
	t.Run("missing path", func(t *testing.T) {
		inEmptyDir(t)
		if _, _, err := Load(missing, nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
			t.Errorf("got %v, want an error naming missing.yaml", err)
		}
	})
	t.Run("missing EVENTED_CONFIG", func(t *testing.T) {
		inEmptyDir(t)
		if _, _, err := Load("", envOf("EVENTED_CONFIG="+missing)); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
			t.Errorf("got %v, want an error naming missing.yaml", err)
		}
	})
}

// The example of SPEC §4, whole.
const specExample = `storage:
  type: sqlite            # sqlite | postgres | redis | memory
  path: ./data/events.db  # sqlite
server:
  host: 0.0.0.0
  command_handler_port: 1313
  event_query_port: 1314
  insecure: true          # evented refuses 0.0.0.0 without TLS and auth otherwise
business_logic:
  - domain: customer
    address: localhost:50052
projectors:
  - name: receipt
    address: localhost:50055
    synchronous: true
    domains: [transaction]
sagas:
  - name: loyalty
    address: localhost:50054
    synchronous: false
    domains: [transaction]
`

func TestLoadFile(t *testing.T) {
	p := writeConfig(t, specExample+`command:
  max_attempts: 3
  timeout: 1m30s
log:
  format: json
`)
	cfg, src := mustLoad(t, p)

	want := Default()
	want.Server.Host, want.Server.Insecure = "0.0.0.0", true
	want.Command.MaxAttempts, want.Command.Timeout = 3, 90*time.Second
	want.Log.Format = "json"
	want.BusinessLogic = []BusinessLogic{{Domain: "customer", Address: "localhost:50052"}}
	want.Projectors = []Consumer{{Name: "receipt", Address: "localhost:50055", Synchronous: true, Domains: []string{"transaction"}}}
	want.Sagas = []Consumer{{Name: "loyalty", Address: "localhost:50054", Domains: []string{"transaction"}}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	file := "file " + p
	wantSrc := Sources{
		"storage.type": file, "storage.path": file, "storage.url": "default", "storage.sync": "default",
		"server.host": file, "server.command_handler_port": file, "server.event_query_port": file,
		"server.shutdown_timeout": "default", "server.admin_port": "default",
		"command.max_attempts": file, "command.timeout": file, "command.idempotency_retention": "default",
		"business_logic": file, "projectors": file, "sagas": file, "upcasters": "default", "command.upcast_cache_bytes": "default",
		"log.level": "default", "log.format": file,
		"delivery.max_attempts": "default", "delivery.backoff_min": "default", "delivery.backoff_max": "default",
		"delivery.timeout": "default", "delivery.workers": "default",
		"delivery.segments": "default", "delivery.lease_ttl": "default", "delivery.max_book_bytes": "default",
		"server.replica_id":  "default",
		"deadlines.segments": "default", "deadlines.poll": "default", "deadlines.batch": "default", "deadlines.concurrency": "default",
		"bus.type": "default", "bus.url": "default", "bus.in_flight": "default",
		"tracing.exporter": "default", "tracing.endpoint": "default", "tracing.sample_ratio": "default",
		"server.insecure": file, "server.tls.cert_file": "default", "server.tls.key_file": "default", "server.tls.client_ca_file": "default",
		"auth.tokens_file": "default", "auth.mtls": "default", "auth.oidc.issuer": "default", "auth.oidc.audience": "default",
		"auth.oidc.jwks_url": "default", "auth.oidc.roles_claim": "default", "auth.oidc.domains_claim": "default",
		"command.cache_bytes": "default", "command.max_concurrent": "default", "command.queue_wait": "default",
		"limits.max_request_bytes": "default", "limits.max_response_bytes": "default", "limits.max_call_bytes": "default",
		"limits.max_pages": "default", "limits.max_event_bytes": "default", "limits.max_domain_length": "default",
		"limits.max_streams": "default", "limits.rate_per_client": "default", "limits.rate_burst": "default",
		"limits.metrics_domains": "default", "console.descriptor_sets": "default",
	}
	if !reflect.DeepEqual(src, wantSrc) {
		t.Errorf("got sources %v\nwant %v", src, wantSrc)
	}
}

func TestLoadFileKeepsDefaults(t *testing.T) {
	for name, content := range map[string]string{
		"empty file":    "",
		"comments only": "# nothing yet\n",
		"null section":  "storage:\n",
		"null value":    "server:\n  host:\n",
		"empty mapping": "{}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, src := mustLoad(t, writeConfig(t, content))
			if !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("got %+v, want Default()", cfg)
			}
			if src["server.host"] != "default" || src["storage.type"] != "default" {
				t.Errorf("sources changed: %v", src)
			}
		})
	}
}

func TestLoadAnchorsAndMerges(t *testing.T) {
	// Anchors may not hide in keys of their own, as in docker compose files.
	p := writeConfig(t, "x-doms: &doms [customer]\nsagas: [{name: s, address: 'h:1', domains: *doms}]\n")
	if _, _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "x-doms (line 1): unknown key") {
		t.Errorf("got %v, want x-doms reported", err)
	}

	p = writeConfig(t, `projectors:
  - &base
    name: a
    address: localhost:50055
    domains: &doms [customer, transaction]
  - name: b
    <<: *base
  - <<: [*base]
    name: c
    synchronous: true
sagas:
  - name: s
    address: localhost:50054
    domains: *doms
`)
	cfg, _ := mustLoad(t, p)
	doms := []string{"customer", "transaction"}
	want := []Consumer{
		{Name: "a", Address: "localhost:50055", Domains: doms},
		{Name: "b", Address: "localhost:50055", Domains: doms},
		{Name: "c", Address: "localhost:50055", Synchronous: true, Domains: doms},
	}
	if !reflect.DeepEqual(cfg.Projectors, want) {
		t.Errorf("projectors: got %+v, want %+v", cfg.Projectors, want)
	}
	if !reflect.DeepEqual(cfg.Sagas[0].Domains, doms) {
		t.Errorf("saga domains: got %v, want %v", cfg.Sagas[0].Domains, doms)
	}
}

func TestLoadAliasBomb(t *testing.T) {
	// Each level merges the previous one ten times: 10^9 expansions if nothing
	// stops it.
	var b strings.Builder
	b.WriteString("a0: &a0 {name: x}\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + "\n  <<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("projectors:\n  - <<: *a9\n")
	_, _, err := Load(writeConfig(t, b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "more than 1000 aliases") {
		t.Errorf("got %v, want the alias limit reported", err)
	}
}

func TestLoadEnv(t *testing.T) {
	inEmptyDir(t)
	tests := []struct {
		env    string
		key    string // whose source is the variable
		change func(*Config)
	}{
		{"EVENTED_STORAGE__TYPE=memory", "storage.type", func(c *Config) { c.Storage.Type = "memory" }},
		{"EVENTED_STORAGE__PATH=/var/lib/evented/e.db", "storage.path", func(c *Config) { c.Storage.Path = "/var/lib/evented/e.db" }},
		{"STORAGE_PATH=legacy.db", "storage.path", func(c *Config) { c.Storage.Path = "legacy.db" }},
		{"EVENTED_STORAGE__SYNC=normal", "storage.sync", func(c *Config) { c.Storage.Sync = "normal" }},
		{"EVENTED_SERVER__HOST=127.0.0.1", "server.host", func(c *Config) { c.Server.Host = "127.0.0.1" }},
		{"SERVER_HOST=localhost", "server.host", func(c *Config) { c.Server.Host = "localhost" }},
		{"EVENTED_SERVER__COMMAND_HANDLER_PORT=1400", "server.command_handler_port", func(c *Config) { c.Server.CommandHandlerPort = 1400 }},
		{"COMMAND_HANDLER_PORT=0", "server.command_handler_port", func(c *Config) { c.Server.CommandHandlerPort = 0 }},
		{"EVENTED_SERVER__EVENT_QUERY_PORT=1401", "server.event_query_port", func(c *Config) { c.Server.EventQueryPort = 1401 }},
		{"EVENT_QUERY_PORT=1402", "server.event_query_port", func(c *Config) { c.Server.EventQueryPort = 1402 }},
		{"EVENTED_SERVER__ADMIN_PORT=-1", "server.admin_port", func(c *Config) { c.Server.AdminPort = -1 }},
		{"EVENTED_SERVER__SHUTDOWN_TIMEOUT=2m", "server.shutdown_timeout", func(c *Config) { c.Server.ShutdownTimeout = 2 * time.Minute }},
		{"EVENTED_COMMAND__MAX_ATTEMPTS=1", "command.max_attempts", func(c *Config) { c.Command.MaxAttempts = 1 }},
		{"EVENTED_COMMAND__TIMEOUT=5s", "command.timeout", func(c *Config) { c.Command.Timeout = 5 * time.Second }},
		{"EVENTED_COMMAND__IDEMPOTENCY_RETENTION=1h", "command.idempotency_retention", func(c *Config) { c.Command.IdempotencyRetention = time.Hour }},
		{"EVENTED_LOG__LEVEL=debug", "log.level", func(c *Config) { c.Log.Level = "debug" }},
		{"EVENTED_DELIVERY__MAX_ATTEMPTS=3", "delivery.max_attempts", func(c *Config) { c.Delivery.MaxAttempts = 3 }},
		{"EVENTED_DELIVERY__BACKOFF_MIN=10ms", "delivery.backoff_min", func(c *Config) { c.Delivery.BackoffMin = 10 * time.Millisecond }},
		{"EVENTED_DELIVERY__BACKOFF_MAX=1m", "delivery.backoff_max", func(c *Config) { c.Delivery.BackoffMax = time.Minute }},
		{"EVENTED_DELIVERY__TIMEOUT=3s", "delivery.timeout", func(c *Config) { c.Delivery.Timeout = 3 * time.Second }},
		{"EVENTED_DELIVERY__WORKERS=2", "delivery.workers", func(c *Config) { c.Delivery.Workers = 2 }},
		{"EVENTED_DELIVERY__SEGMENTS=16", "delivery.segments", func(c *Config) { c.Delivery.Segments = 16 }},
		{"EVENTED_DELIVERY__LEASE_TTL=3s", "delivery.lease_ttl", func(c *Config) { c.Delivery.LeaseTTL = 3 * time.Second }},
		{"EVENTED_DELIVERY__MAX_BOOK_BYTES=1048576", "delivery.max_book_bytes", func(c *Config) { c.Delivery.MaxBookBytes = 1 << 20 }},
		{"EVENTED_DEADLINES__SEGMENTS=8", "deadlines.segments", func(c *Config) { c.Deadlines.Segments = 8 }},
		{"EVENTED_DEADLINES__POLL=50ms", "deadlines.poll", func(c *Config) { c.Deadlines.Poll = 50 * time.Millisecond }},
		{"EVENTED_DEADLINES__BATCH=500", "deadlines.batch", func(c *Config) { c.Deadlines.Batch = 500 }},
		{"EVENTED_DEADLINES__CONCURRENCY=16", "deadlines.concurrency", func(c *Config) { c.Deadlines.Concurrency = 16 }},
		{"EVENTED_SERVER__REPLICA_ID=evented-0", "server.replica_id", func(c *Config) { c.Server.ReplicaID = "evented-0" }},
		{"EVENTED_TRACING__EXPORTER=stdout", "tracing.exporter", func(c *Config) { c.Tracing.Exporter = "stdout" }},
		{"EVENTED_TRACING__ENDPOINT=collector:4317", "tracing.endpoint", func(c *Config) { c.Tracing.Endpoint = "collector:4317" }},
		{"EVENTED_TRACING__SAMPLE_RATIO=0.25", "tracing.sample_ratio", func(c *Config) { c.Tracing.SampleRatio = 0.25 }},
		{"EVENTED_BUS__TYPE=inprocess", "bus.type", func(c *Config) { c.Bus.Type = "inprocess" }},
		{"EVENTED_BUS__URL=amqp://guest:guest@localhost:5672/", "bus.url", func(c *Config) { c.Bus.URL = "amqp://guest:guest@localhost:5672/" }},
		{"EVENTED_BUS__IN_FLIGHT=64", "bus.in_flight", func(c *Config) { c.Bus.InFlight = 64 }},
		{"EVENTED_LOG__FORMAT=json", "log.format", func(c *Config) { c.Log.Format = "json" }},
		{"EVENTED_SERVER__INSECURE=true", "server.insecure", func(c *Config) { c.Server.Insecure = true }},
		{"EVENTED_AUTH__TOKENS_FILE=/etc/evented/tokens.yaml", "auth.tokens_file", func(c *Config) { c.Auth.TokensFile = "/etc/evented/tokens.yaml" }},
		{"EVENTED_AUTH__OIDC__ROLES_CLAIM=realm_access.roles", "auth.oidc.roles_claim", func(c *Config) { c.Auth.OIDC.RolesClaim = "realm_access.roles" }},
		{"EVENTED_COMMAND__CACHE_BYTES=1024", "command.cache_bytes", func(c *Config) { c.Command.CacheBytes = 1024 }},
		{"EVENTED_COMMAND__UPCAST_CACHE_BYTES=2048", "command.upcast_cache_bytes", func(c *Config) { c.Command.UpcastCacheBytes = 2048 }},
		{"EVENTED_COMMAND__MAX_CONCURRENT=8", "command.max_concurrent", func(c *Config) { c.Command.MaxConcurrent = 8 }},
		{"EVENTED_COMMAND__QUEUE_WAIT=1s", "command.queue_wait", func(c *Config) { c.Command.QueueWait = time.Second }},
		{"EVENTED_LIMITS__MAX_REQUEST_BYTES=8388608", "limits.max_request_bytes", func(c *Config) { c.Limits.MaxRequestBytes = 8 << 20 }},
		{"EVENTED_LIMITS__MAX_RESPONSE_BYTES=8388608", "limits.max_response_bytes", func(c *Config) { c.Limits.MaxResponseBytes = 8 << 20 }},
		{"EVENTED_LIMITS__MAX_CALL_BYTES=8388608", "limits.max_call_bytes", func(c *Config) { c.Limits.MaxCallBytes = 8 << 20 }},
		{"EVENTED_LIMITS__MAX_PAGES=10", "limits.max_pages", func(c *Config) { c.Limits.MaxPages = 10 }},
		{"EVENTED_LIMITS__MAX_EVENT_BYTES=65536", "limits.max_event_bytes", func(c *Config) { c.Limits.MaxEventBytes = 65536 }},
		{"EVENTED_LIMITS__MAX_DOMAIN_LENGTH=32", "limits.max_domain_length", func(c *Config) { c.Limits.MaxDomainLength = 32 }},
		{"EVENTED_LIMITS__MAX_STREAMS=10", "limits.max_streams", func(c *Config) { c.Limits.MaxStreams = 10 }},
		{"EVENTED_LIMITS__RATE_PER_CLIENT=2.5", "limits.rate_per_client", func(c *Config) { c.Limits.RatePerClient = 2.5 }},
		{"EVENTED_LIMITS__RATE_BURST=5", "limits.rate_burst", func(c *Config) { c.Limits.RateBurst = 5 }},
		{"EVENTED_LIMITS__METRICS_DOMAINS=0", "limits.metrics_domains", func(c *Config) { c.Limits.MetricsDomains = 0 }},
		{"EVENTED_CONSOLE__DESCRIPTOR_SETS=[shop.binpb]", "console.descriptor_sets", func(c *Config) { c.Console.DescriptorSets = []string{"shop.binpb"} }},
		{
			`EVENTED_BUSINESS_LOGIC=[{domain: customer, address: "localhost:50052", snapshots: {min_events: 10}}]`, "business_logic",
			func(c *Config) {
				c.BusinessLogic = []BusinessLogic{{Domain: "customer", Address: "localhost:50052", Snapshots: SnapshotPolicy{MinEvents: 10}}}
			},
		},
		{
			`EVENTED_PROJECTORS=[{"name": "receipt", "address": "localhost:50055", "synchronous": true, "domains": ["transaction"]}]`, "projectors",
			func(c *Config) {
				c.Projectors = []Consumer{{Name: "receipt", Address: "localhost:50055", Synchronous: true, Domains: []string{"transaction"}}}
			},
		},
		{
			"EVENTED_SAGAS=- name: loyalty\n  address: localhost:50054\n  domains: [transaction]", "sagas",
			func(c *Config) {
				c.Sagas = []Consumer{{Name: "loyalty", Address: "localhost:50054", Domains: []string{"transaction"}}}
			},
		},
		{
			`EVENTED_UPCASTERS=[{"domain": "customer", "address": "localhost:50060", "steps": [{"type": "type.googleapis.com/examples.CustomerCreated", "from_version": 1}]}]`, "upcasters",
			func(c *Config) {
				c.Upcasters = []Upcaster{{Domain: "customer", Address: "localhost:50060", Steps: []UpcastStep{{Type: "type.googleapis.com/examples.CustomerCreated", FromVersion: 1}}}}
			},
		},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.key] = true
		t.Run(tt.env, func(t *testing.T) {
			cfg, src := mustLoad(t, "", tt.env)
			want := Default()
			tt.change(&want)
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("got  %+v\nwant %+v", cfg, want)
			}
			name, _, _ := strings.Cut(tt.env, "=")
			if src[tt.key] != "env "+name {
				t.Errorf("source of %s = %q, want env %s", tt.key, src[tt.key], name)
			}
		})
	}
	// storage.url needs storage.type to validate; tested in TestLoadEnvPrecedence.
	covered["storage.url"] = true
	// Keys that need others to validate; tested in TestLoadEnvSecurity.
	for _, k := range []string{"auth.mtls", "server.tls.cert_file", "server.tls.key_file", "server.tls.client_ca_file",
		"auth.oidc.issuer", "auth.oidc.audience", "auth.oidc.jwks_url", "auth.oidc.domains_claim"} {
		covered[k] = true
	}
	for _, k := range leafKeys(reflect.TypeFor[Config](), "") {
		if !covered[k] {
			t.Errorf("no test sets %s (%s) from the environment", k, EnvName(k))
		}
	}
}

// TestLoadEnvSecurity sets the TLS and OIDC keys, which validate together,
// from the environment.
func TestLoadEnvSecurity(t *testing.T) {
	inEmptyDir(t)
	env := []string{
		"EVENTED_SERVER__TLS__CERT_FILE=/tls/tls.crt", "EVENTED_SERVER__TLS__KEY_FILE=/tls/tls.key", "EVENTED_SERVER__TLS__CLIENT_CA_FILE=/tls/ca.crt",
		"EVENTED_AUTH__OIDC__ISSUER=https://login.example.com", "EVENTED_AUTH__OIDC__AUDIENCE=evented",
		"EVENTED_AUTH__OIDC__JWKS_URL=https://login.example.com/keys", "EVENTED_AUTH__OIDC__DOMAINS_CLAIM=domains",
		"EVENTED_SERVER__HOST=0.0.0.0", `EVENTED_AUTH__MTLS=[{name: billing, roles: [command]}]`,
	}
	cfg, src := mustLoad(t, "", env...)
	want := Default()
	want.Server.Host = "0.0.0.0"
	want.Server.TLS = TLS{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", ClientCAFile: "/tls/ca.crt"}
	want.Auth.OIDC = OIDC{Issuer: "https://login.example.com", Audience: "evented", JWKSURL: "https://login.example.com/keys",
		RolesClaim: "roles", DomainsClaim: "domains"}
	want.Auth.MTLS = []MTLSIdentity{{Name: "billing", Roles: []string{"command"}}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "EVENTED_"), "__", "."))
		if src[key] != "env "+name {
			t.Errorf("source of %s = %q, want env %s", key, src[key], name)
		}
	}
}

func TestLoadEnvPrecedence(t *testing.T) {
	p := writeConfig(t, "storage:\n  type: sqlite\n  path: file.db\nserver:\n  host: filehost\n  insecure: true\n")

	cfg, src := mustLoad(t, p, "STORAGE_PATH=legacy.db", "EVENTED_STORAGE__PATH=systematic.db", "SERVER_HOST=envhost")
	if cfg.Storage.Path != "systematic.db" || src["storage.path"] != "env EVENTED_STORAGE__PATH" {
		t.Errorf("path %q from %q: want the systematic variable to beat the legacy one and the file", cfg.Storage.Path, src["storage.path"])
	}
	if cfg.Server.Host != "envhost" || src["server.host"] != "env SERVER_HOST" {
		t.Errorf("host %q from %q: want the variable to beat the file", cfg.Server.Host, src["server.host"])
	}

	cfg, src = mustLoad(t, p, "EVENTED_STORAGE__PATH=", "SERVER_HOST=")
	if cfg.Storage.Path != "file.db" || cfg.Server.Host != "filehost" || src["storage.path"] != "file "+p {
		t.Errorf("got %+v from %v: want empty variables ignored", cfg, src)
	}

	// A string is taken literally, not as YAML, where " #" starts a comment.
	cfg, _ = mustLoad(t, p, "EVENTED_STORAGE__PATH=./data/run #1.db")
	if cfg.Storage.Path != "./data/run #1.db" {
		t.Errorf("path = %q, want ./data/run #1.db", cfg.Storage.Path)
	}
	url := "postgres://evented:secret@db:5432/events?sslmode=disable"
	cfg, src = mustLoad(t, p, "EVENTED_STORAGE__TYPE=postgres", "EVENTED_STORAGE__URL="+url)
	if cfg.Storage.URL != url || src["storage.url"] != "env EVENTED_STORAGE__URL" {
		t.Errorf("url = %q from %q, want %q from EVENTED_STORAGE__URL", cfg.Storage.URL, src["storage.url"], url)
	}

}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"storage.type":                "EVENTED_STORAGE__TYPE",
		"server.command_handler_port": "EVENTED_SERVER__COMMAND_HANDLER_PORT",
		"business_logic":              "EVENTED_BUSINESS_LOGIC",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	inEmptyDir(t)
	tests := []struct {
		name string
		file string
		env  []string
		want []string // each must appear in the error
	}{
		{"unknown key", "storage:\n  type: sqlite\n  tpye: memory\n",
			nil, []string{"storage.tpye (line 3): unknown key; known keys: type, path, url, sync"}},
		{"unknown top-level key", "storage: {}\nstorgae: {}\n",
			nil, []string{"storgae (line 2): unknown key; known keys: storage, server, command, business_logic, projectors, sagas, upcasters, delivery, deadlines, bus, tracing, log"}},
		{"unknown key in a list item", "business_logic:\n  - domain: customer\n    adress: localhost:50052\n",
			nil, []string{"business_logic[0].adress (line 3): unknown key; known keys: domain, address, snapshots"}},
		{"unknown key deep in a list item", "business_logic:\n  - domain: customer\n    address: localhost:50052\n    snapshots: {evry: 10}\n",
			nil, []string{"business_logic[0].snapshots.evry (line 4): unknown key; known keys: disabled, min_events, every, load_over, idle, state_type, keep"}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n",
			nil, []string{"log.level (line 3): duplicate key (first on line 2)"}},
		{"not an integer", "server:\n  command_handler_port: http\n",
			nil, []string{`server.command_handler_port (line 2): invalid value "http": want an integer`}},
		{"a float is not an integer", "command:\n  max_attempts: 2.5\n",
			nil, []string{`command.max_attempts (line 2): invalid value "2.5": want an integer`}},
		{"a quoted number is not an integer", "server:\n  event_query_port: \"1314\"\n",
			nil, []string{`server.event_query_port (line 2): invalid value "1314": want an integer`}},
		{"a bare number is not a duration", "command:\n  timeout: 10\n",
			nil, []string{`command.timeout (line 2): invalid value "10": want a duration such as "10s"`}},
		{"not a duration", "server:\n  shutdown_timeout: soon\n",
			nil, []string{`server.shutdown_timeout (line 2): invalid value "soon": want a duration`}},
		{"not a bool", "projectors:\n  - name: p\n    address: h:1\n    domains: [d]\n    synchronous: maybe\n",
			nil, []string{`projectors[0].synchronous (line 5): invalid value "maybe": want true or false`}},
		{"a list is not a string", "storage:\n  path: [a, b]\n",
			nil, []string{`storage.path (line 2): invalid value (a list): want a string`}},
		{"a scalar is not a section", "storage: sqlite\n",
			nil, []string{`storage (line 1): invalid value "sqlite": want a mapping with keys type, path, url, sync`}},
		{"a mapping is not a list", "sagas:\n  name: s\n",
			nil, []string{`sagas (line 2): invalid value (a mapping): want a list of mapping with keys name, address, synchronous, domains`}},
		{"a mapping is not a domain", "sagas:\n  - name: s\n    address: h:1\n    domains: [{a: b}]\n",
			nil, []string{`sagas[0].domains[0] (line 4): invalid value (a mapping): want a string`}},
		{"a list is not a config", "- storage\n",
			nil, []string{"evented.yaml: top level (line 1): invalid value (a list): want a mapping with keys storage, server"}},
		{"syntax in a second document", "log: {level: info}\n---\nlog: [\n",
			nil, []string{"evented.yaml: yaml: line"}},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n",
			nil, []string{"line 2: a second YAML document; want one"}},
		{"syntax", "storage:\n  type: [sqlite\n",
			nil, []string{"evented.yaml: yaml: line"}},
		{"bad variable value", "",
			[]string{"EVENTED_SERVER__EVENT_QUERY_PORT=high"}, []string{`env EVENTED_SERVER__EVENT_QUERY_PORT: server.event_query_port: invalid value "high": want an integer`}},
		{"bad legacy variable value", "",
			[]string{"COMMAND_HANDLER_PORT=x"}, []string{`env COMMAND_HANDLER_PORT: server.command_handler_port: invalid value "x": want an integer`}},
		{"bad duration variable", "",
			[]string{"EVENTED_COMMAND__TIMEOUT=5"}, []string{`env EVENTED_COMMAND__TIMEOUT: command.timeout: invalid value "5": want a duration`}},
		{"list variable that is not YAML", "",
			[]string{"EVENTED_PROJECTORS=[{name: p"}, []string{`env EVENTED_PROJECTORS: projectors: invalid value "[{name: p": want a list of mapping`}},
		{"unknown key in a list variable", "",
			[]string{"EVENTED_BUSINESS_LOGIC=[{domain: c, adress: 'h:1'}]"}, []string{"env EVENTED_BUSINESS_LOGIC: business_logic[0].adress: unknown key"}},
		{"invalid value from the file", "storage:\n  type: mongo\n",
			nil, []string{`evented.yaml: storage.type: invalid value "mongo": want one of sqlite, memory, postgres, redis`}},
		{"invalid value from a variable", "",
			[]string{"EVENTED_LOG__FORMAT=yaml"}, []string{`env EVENTED_LOG__FORMAT: log.format: invalid value "yaml": want one of auto, text, json`}},
		{"invalid list item from a variable", "",
			[]string{"EVENTED_SAGAS=[{name: s, address: nowhere, domains: [d]}]"}, []string{`env EVENTED_SAGAS: sagas[0].address: invalid value "nowhere": want host:port`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, _, err := Load(path, envOf(tt.env...))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

// Unknown variables are found by name in the process environment, so these
// tests set it (and cannot run in parallel).
func TestLoadUnknownVariables(t *testing.T) {
	inEmptyDir(t)
	for _, tt := range []struct{ name, want string }{
		{"EVENTED_STORAGE_TYPE", "env EVENTED_STORAGE_TYPE: unknown variable; known: EVENTED_AUTH__MTLS, EVENTED_AUTH__OIDC__AUDIENCE,"},
		{"EVENTED_BUSINESS_LOGIC__0__DOMAIN", "env EVENTED_BUSINESS_LOGIC__0__DOMAIN: unknown variable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.name, "x")
			_, _, err := Load("", os.Getenv)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !strings.Contains(err.Error(), "EVENTED_STORAGE__TYPE") {
				t.Errorf("got %v, want %s… listing the known variables", err, tt.want)
			}
			// A test's own env decides which variables of the process count.
			if _, _, err := Load("", envOf()); err != nil {
				t.Errorf("with an empty env: %v", err)
			}
		})
	}
	t.Run("not keys", func(t *testing.T) {
		t.Setenv("EVENTED_CONFIG", "")
		t.Setenv("EVENTED_LOG", "evented=debug")
		if _, _, err := Load("", os.Getenv); err != nil {
			t.Errorf("EVENTED_LOG is not a key but is known: %v", err)
		}
	})
}

func TestLoadReportsEverything(t *testing.T) {
	p := writeConfig(t, "storage:\n  tpye: x\nserver:\n  command_handler_port: x\nlog:\n  level: loud\n")
	t.Setenv("EVENTED_NOPE", "1")
	_, _, err := Load(p, envOf("EVENTED_NOPE=1", "EVENTED_COMMAND__MAX_ATTEMPTS=0"))
	want := []string{
		p + ": storage.tpye (line 2): unknown key",
		p + `: server.command_handler_port (line 4): invalid value "x"`,
		"env EVENTED_NOPE: unknown variable",
		"env EVENTED_COMMAND__MAX_ATTEMPTS: command.max_attempts: invalid value 0: want 1 or more",
		p + `: log.level: invalid value "loud": want one of trace, debug, info, warn, error, off`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\ngot  %s\nwant %s…", i, got[i], want[i])
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte("storage: {type: postgres, url: 'postgres://u:p@h/db'}\nlog: {level: debug, format: json}\n"))
	f.Add([]byte("projectors:\n  - &a {name: a, address: 'h:1', domains: [x]}\n  - <<: *a\n    name: b\n"))
	f.Add([]byte("command: {timeout: 1m, max_attempts: 2}\nserver: {command_handler_port: 0, event_query_port: 0}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("- [x]\n---\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, src, err := Load(p, nil)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config Validate rejects: %v", err)
		}
		// What Print writes, Load reads back the same.
		var out bytes.Buffer
		if err := Print(&out, cfg, src); err != nil {
			t.Fatalf("Print: %v", err)
		}
		back, _, err := Load(writeConfig(t, out.String()), nil)
		if err != nil {
			t.Fatalf("Load of Print's output: %v\n%s", err, out.String())
		}
		cfg.Storage.URL = redacted(cfg.Storage.URL)
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip through Print:\ngot  %+v\nwant %+v\n%s", back, cfg, out.String())
		}
	})
}

// TestFileNamesWhatLoadReads: the flag, else EVENTED_CONFIG, else
// ./config.yaml when present, else no file.
func TestFileNamesWhatLoadReads(t *testing.T) {
	t.Chdir(t.TempDir())
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvConfig {
				return v
			}
			return ""
		}
	}
	if got := File("", env("")); got != "" {
		t.Errorf("no flag, no variable, no ./config.yaml: %q, want none", got)
	}
	if err := os.WriteFile(defaultFile, []byte("log:\n  level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := File("", nil); got != defaultFile {
		t.Errorf("./config.yaml present: %q, want %s", got, defaultFile)
	}
	if got := File("", env("from-env.yaml")); got != "from-env.yaml" {
		t.Errorf("EVENTED_CONFIG: %q, want from-env.yaml", got)
	}
	if got := File("flag.yaml", env("from-env.yaml")); got != "flag.yaml" {
		t.Errorf("--config beats EVENTED_CONFIG: %q, want flag.yaml", got)
	}
	// What File names is what Load read.
	_, src, err := Load(File("", nil), nil)
	if err != nil || src["log.level"] != "file "+defaultFile {
		t.Errorf("Load of File's answer: log.level from %q, %v", src["log.level"], err)
	}
}

// TestLogLevelFromEitherVariable: EVENTED_LOG__LEVEL takes every level
// EVENTED_LOG takes, and EVENTED_LOG (which wins) is what config print
// shows, with its source.
func TestLogLevelFromEitherVariable(t *testing.T) {
	for _, tt := range []struct {
		env        []string
		want, from string
	}{
		{[]string{"EVENTED_LOG__LEVEL", "trace"}, "trace", "env EVENTED_LOG__LEVEL"},
		{[]string{"EVENTED_LOG__LEVEL", "off"}, "off", "env EVENTED_LOG__LEVEL"},
		{[]string{"EVENTED_LOG", "trace"}, "trace", "env EVENTED_LOG"},
		{[]string{"EVENTED_LOG", "WARN"}, "warn", "env EVENTED_LOG"},
		{[]string{"EVENTED_LOG", "info,evented=debug"}, "debug", "env EVENTED_LOG"},
		{[]string{"EVENTED_LOG", "sqlx=debug"}, "info", "default"},
		{[]string{"EVENTED_LOG__LEVEL", "error", "EVENTED_LOG", "debug"}, "debug", "env EVENTED_LOG"},
	} {
		m := map[string]string{}
		for i := 0; i < len(tt.env); i += 2 {
			m[tt.env[i]] = tt.env[i+1]
		}
		for k, v := range m {
			t.Setenv(k, v) // the unknown-variable check reads os.Environ
		}
		cfg, src, err := Load(os.DevNull, func(k string) string { return m[k] })
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if cfg.Log.Level != tt.want || src["log.level"] != tt.from {
			t.Errorf("%v: log.level %q from %q, want %q from %q", tt.env, cfg.Log.Level, src["log.level"], tt.want, tt.from)
		}
		var out strings.Builder
		if err := Print(&out, cfg, src); err != nil {
			t.Fatal(err)
		}
		value := tt.want
		if value == "off" {
			value = `"off"` // YAML 1.1 would read a bare off as false
		}
		if line := "level: " + value + " # " + tt.from; !strings.Contains(out.String(), line) {
			t.Errorf("%v: config print lacks %q:\n%s", tt.env, line, out.String())
		}
		for k := range m {
			os.Unsetenv(k)
		}
	}
	_, _, err := Load(os.DevNull, func(k string) string { return map[string]string{"EVENTED_LOG": "verbose"}[k] })
	if err == nil || !strings.Contains(err.Error(), `env EVENTED_LOG: invalid level "verbose"`) {
		t.Errorf("EVENTED_LOG=verbose: %v, want an error naming it", err)
	}
}
