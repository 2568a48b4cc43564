// Package config is evented's configuration: a plain struct with YAML tags,
// its defaults, and (in load.go) the only code that reads config files and
// environment variables.
//
// Load builds the effective configuration in three layers, each overriding
// the one before:
//
//  1. Default: SQLite at ./data/events.db, ports 1313 and 1314.
//  2. One YAML file: the --config flag, else $EVENTED_CONFIG, else
//     ./config.yaml if it exists.
//  3. The environment.
//
// Every key has a variable: EVENTED_ and its path upper-cased, with "__"
// between levels. Values are YAML, so a list is written whole, in flow style
// or JSON; strings are taken literally.
//
//	EVENTED_STORAGE__TYPE=postgres
//	EVENTED_SERVER__COMMAND_HANDLER_PORT=1400
//	EVENTED_COMMAND__TIMEOUT=5s
//	EVENTED_BUSINESS_LOGIC='[{domain: customer, address: "localhost:50052"}]'
//
// The variables of evented-rs work too (STORAGE_PATH, COMMAND_HANDLER_PORT,
// EVENT_QUERY_PORT, SERVER_HOST); the EVENTED_ variable of the same key wins.
//
// Loading is strict because a typo that is silently ignored costs more than
// one that stops the server: an unknown key in the file (reported with its
// line), an EVENTED_ variable that names no key, a value of the wrong type and
// whatever Validate rejects are all errors, reported together so that one run
// shows everything to fix. Sources records where each effective value came
// from, and Print shows both.
package config

import "time"

// Config is the whole configuration of one evented server.
type Config struct {
	Storage       Storage         `yaml:"storage"`
	Server        Server          `yaml:"server"`
	Command       Command         `yaml:"command"`
	BusinessLogic []BusinessLogic `yaml:"business_logic"`
	Projectors    []Consumer      `yaml:"projectors"`
	Sagas         []Consumer      `yaml:"sagas"`
	Delivery      Delivery        `yaml:"delivery"`
	Bus           Bus             `yaml:"bus"`
	Tracing       Tracing         `yaml:"tracing"`
	Log           Log             `yaml:"log"`
}

// Tracing configures OpenTelemetry tracing of commands; off by default.
type Tracing struct {
	// Exporter is none (default), stdout (spans as JSON on standard output)
	// or otlp (OTLP over gRPC to Endpoint).
	Exporter string `yaml:"exporter"`
	// Endpoint is the OTLP collector's host:port.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of commands traced, from 0 (exclusive) to 1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Delivery tunes how events reach projectors, sagas and the bus.
type Delivery struct {
	// MaxAttempts is how many times a delivery is tried before its events
	// are parked (dead-lettered).
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffMin and BackoffMax bound the wait between attempts, which
	// doubles from BackoffMin with jitter.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Timeout is the deadline of one call to a projector or saga.
	Timeout time.Duration `yaml:"timeout"`
	// Workers is how many aggregates each subscriber is delivered
	// concurrently.
	Workers int `yaml:"workers"`
	// Segments is how many segments each asynchronous subscription is
	// split into, by aggregate. Replicas sharing the store share the
	// segments through leases; more segments spread the work over more
	// replicas. Changing it restarts the new segments from the slowest
	// old one's checkpoint (some events are delivered again).
	Segments int `yaml:"segments"`
	// LeaseTTL is how long a replica holds a segment without renewing
	// (renewed every third of it): a replica that dies has its segments
	// taken over after at most this long.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// MaxBookBytes bounds the payload of one book delivered to a projector,
	// saga or the bus (gRPC's default limit is 4 MiB; NATS's payload
	// limit, when lower, bounds the relay). A larger event is parked.
	MaxBookBytes int `yaml:"max_book_bytes"`
}

// Bus is the message broker committed events are published to, for
// consumers that read a broker rather than being called by evented.
type Bus struct {
	// Type is none (default), inprocess, amqp or nats.
	Type string `yaml:"type"`
	// URL is the broker's address: amqp://… or nats://….
	URL string `yaml:"url"`
}

// Storage selects and configures the event and snapshot store.
type Storage struct {
	// Type is one of sqlite, memory, postgres, redis.
	Type string `yaml:"type"`
	// Path is the SQLite database file.
	Path string `yaml:"path"`
	// URL is the postgres:// or redis:// address.
	URL string `yaml:"url"`
	// Sync is SQLite's durability: "full" (default: an acknowledged append
	// survives power loss) or "normal" (survives a crash of evented, not of
	// the machine).
	Sync string `yaml:"sync"`
}

// Server holds the listening addresses.
type Server struct {
	Host               string `yaml:"host"`
	CommandHandlerPort int    `yaml:"command_handler_port"`
	EventQueryPort     int    `yaml:"event_query_port"`
	// AdminPort serves HTTP /metrics (Prometheus), /healthz and /readyz;
	// -1 turns it off.
	AdminPort int `yaml:"admin_port"`
	// ShutdownTimeout bounds how long in-flight calls may take to finish on
	// SIGINT/SIGTERM before they are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReplicaID names this process in segment leases; empty means the
	// host name, the process id and a random suffix (unique per start).
	ReplicaID string `yaml:"replica_id"`
}

// Command tunes command handling.
type Command struct {
	// MaxAttempts is how many times a command is tried (reload, call business
	// logic, append) when another writer got there first.
	MaxAttempts int `yaml:"max_attempts"`
	// Timeout is the deadline of one call to business logic.
	Timeout time.Duration `yaml:"timeout"`
	// IdempotencyRetention is how long an idempotency key is kept after
	// its command stored events: a repeat within it is answered with the
	// first command's events.
	IdempotencyRetention time.Duration `yaml:"idempotency_retention"`
}

// BusinessLogic routes a domain to the service that decides its commands.
type BusinessLogic struct {
	Domain  string `yaml:"domain"`
	Address string `yaml:"address"`
	// Snapshots is the domain's snapshot policy.
	Snapshots SnapshotPolicy `yaml:"snapshots"`
	// TLS and TokenFile secure the connection to the service (outbound.go).
	TLS       ServiceTLS `yaml:"tls,omitempty"`
	TokenFile string     `yaml:"token_file,omitempty"`
}

// SnapshotPolicy says which snapshots returned by business logic are stored.
type SnapshotPolicy struct {
	// Disabled drops every returned snapshot.
	Disabled bool `yaml:"disabled"`
	// MinEvents stores a returned snapshot only when at least this many events
	// were appended since the stored one (0: store every one).
	MinEvents int `yaml:"min_events"`
}

// Consumer is a projector or saga.
type Consumer struct {
	Name        string `yaml:"name"`
	Address     string `yaml:"address"`
	Synchronous bool   `yaml:"synchronous"`
	// Domains whose events it receives; empty means all.
	Domains []string `yaml:"domains"`
	// History makes each delivery carry the aggregate's latest snapshot and
	// every event since, up to the new ones, instead of the new events only.
	History bool `yaml:"history"`
	// MaxAttempts overrides delivery.max_attempts for this consumer.
	MaxAttempts int `yaml:"max_attempts"`
	// Start is where the consumer begins when it has no checkpoint yet:
	// beginning (every stored event) or head (events committed from its
	// first start on). Empty means beginning for projectors and head for
	// sagas, so that a new saga does not act on years of history.
	Start string `yaml:"start"`
	// PublishProjections (projectors only) makes evented ask the projector
	// HandleSync on its asynchronous deliveries too and keep the
	// Projection it returns, for subscription queries
	// (evented.ProjectionQuery).
	PublishProjections bool `yaml:"publish_projections,omitempty"`
	// TLS and TokenFile secure the connection to the service (outbound.go).
	TLS       ServiceTLS `yaml:"tls,omitempty"`
	TokenFile string     `yaml:"token_file,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error; EVENTED_LOG overrides it.
	Level string `yaml:"level"`
	// Format is auto (text on a terminal, JSON otherwise), text or json.
	Format string `yaml:"format"`
}

// Default returns the built-in configuration: SQLite at ./data/events.db,
// ports 1313 and 1314 on all interfaces, no business logic configured (the
// placeholder answers every domain).
func Default() Config {
	return Config{
		Storage: Storage{Type: "sqlite", Path: "./data/events.db", Sync: "full"},
		Server: Server{
			Host:               "0.0.0.0",
			CommandHandlerPort: 1313,
			EventQueryPort:     1314,
			AdminPort:          1315,
			ShutdownTimeout:    30 * time.Second,
		},
		Command: Command{MaxAttempts: 5, Timeout: 10 * time.Second, IdempotencyRetention: 24 * time.Hour},
		Delivery: Delivery{
			MaxAttempts:  10,
			BackoffMin:   100 * time.Millisecond,
			BackoffMax:   30 * time.Second,
			Timeout:      10 * time.Second,
			Workers:      8,
			Segments:     4,
			LeaseTTL:     10 * time.Second,
			MaxBookBytes: 3 << 20,
		},
		Bus:     Bus{Type: "none"},
		Tracing: Tracing{Exporter: "none", Endpoint: "localhost:4317", SampleRatio: 1},
		Log:     Log{Level: "info", Format: "auto"},
	}
}
