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
	Storage Storage `yaml:"storage"`
	Server  Server  `yaml:"server"`
	Command Command `yaml:"command"`
	// BusinessLogic routes each domain to its service; empty means the
	// placeholder answers every domain, and once one is set a command for
	// an unconfigured domain is refused (NOT_FOUND).
	BusinessLogic []BusinessLogic `yaml:"business_logic"`
	// Projectors are the services that build read models from events.
	Projectors []Consumer `yaml:"projectors"`
	// Sagas are the services that answer events with commands.
	Sagas []Consumer `yaml:"sagas"`
	// Upcasters are the services that raise stored events to newer schema
	// versions as they are read.
	Upcasters []Upcaster `yaml:"upcasters"`
	Delivery  Delivery   `yaml:"delivery"`
	Deadlines Deadlines  `yaml:"deadlines"`
	Bus       Bus        `yaml:"bus"`
	Tracing   Tracing    `yaml:"tracing"`
	Log       Log        `yaml:"log"`
	Auth      Auth       `yaml:"auth"`
	Limits    Limits     `yaml:"limits"`
	Console   Console    `yaml:"console"`
}

// Console configures the web console on the admin port.
type Console struct {
	// DescriptorSets are FileDescriptorSet files (buf build -o FILE) with
	// the message types of your domains: the console decodes their
	// payloads to JSON and parses commands sent from its form, like the
	// CLI's --descriptor-set. The example types need none.
	DescriptorSets []string `yaml:"descriptor_sets"`
}

// Limits bound what one client, or one service evented calls, can make the
// server hold; each refusal is an error naming the limit
// (docs/howto/security.md, Limits).
type Limits struct {
	// MaxRequestBytes bounds one message received on either gRPC port.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxResponseBytes bounds one message sent on either gRPC port.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// MaxCallBytes bounds one message sent to or received from business
	// logic, a projector or a saga.
	MaxCallBytes int `yaml:"max_call_bytes"`
	// MaxPages bounds the pages of one command or recorded book.
	MaxPages int `yaml:"max_pages"`
	// MaxEventBytes bounds the payload of one event (and of one command).
	MaxEventBytes int `yaml:"max_event_bytes"`
	// MaxDomainLength bounds a domain name, in bytes (at most 222:
	// eventstore.MaxDomainLimit).
	MaxDomainLength int `yaml:"max_domain_length"`
	// MaxStreams bounds the concurrent calls (HTTP/2 streams) of one
	// client connection.
	MaxStreams int `yaml:"max_streams"`
	// RatePerClient is the calls per second one client may make, on
	// average (0: no limit); RateBurst how many more it may make at once.
	RatePerClient float64 `yaml:"rate_per_client"`
	RateBurst     int     `yaml:"rate_burst"`
	// MetricsDomains is how many domains besides the configured ones get a
	// metrics label of their own, the first stored first; the others count
	// under "other".
	MetricsDomains int `yaml:"metrics_domains"`
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
	// Timeout is the deadline of one call to a projector or saga, and of one
	// publish of the bus relay (until the broker confirms the book).
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

// Deadlines tunes the firing of deadlines: commands business logic and
// sagas schedule for later (docs/howto/deadlines.md).
type Deadlines struct {
	// Segments splits the deadlines among the replicas by a hash of their
	// ID; each segment is fired by the replica holding its lease
	// (delivery.lease_ttl).
	Segments int `yaml:"segments"`
	// Poll is how often the firer looks for due deadlines (the store's
	// earliest due time first, then the held segments when something is
	// due); one pending at a look and due before the next is fired at its
	// due time.
	Poll time.Duration `yaml:"poll"`
	// Batch is how many due deadlines one read returns.
	Batch int `yaml:"batch"`
	// Concurrency sizes the firing of due deadlines: their commands are
	// fired in groups of 64, Concurrency/64 groups under way at once (at
	// least sixteen).
	Concurrency int `yaml:"concurrency"`
}

// Bus is the message broker committed events are published to, for
// consumers that read a broker rather than being called by evented.
type Bus struct {
	// Type is none (default), inprocess, amqp or nats.
	Type string `yaml:"type"`
	// URL is the broker's address: amqp://… or nats://….
	URL string `yaml:"url"`
	// InFlight is how many books the relay may have published and not yet
	// confirmed by the broker, across aggregates (one aggregate has at most
	// one book in flight, which keeps its order). The checkpoint stays
	// below the first unconfirmed book. 0 means the default, 256.
	InFlight int `yaml:"in_flight"`
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
	// Host is the address the ports listen on; anything but loopback needs
	// TLS and authentication, or Insecure.
	Host string `yaml:"host"`
	// CommandHandlerPort serves BusinessCoordinator (commands, Record),
	// DeliveryAdmin and the coordinator services.
	CommandHandlerPort int `yaml:"command_handler_port"`
	// EventQueryPort serves EventQuery and ProjectionQuery.
	EventQueryPort int `yaml:"event_query_port"`
	// AdminPort serves HTTP /metrics (Prometheus), /healthz and /readyz;
	// -1 turns it off.
	AdminPort int `yaml:"admin_port"`
	// ShutdownTimeout bounds how long in-flight calls may take to finish on
	// SIGINT/SIGTERM before they are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReplicaID names this process in segment leases; empty means the
	// host name, the process id and a random suffix (unique per start).
	ReplicaID string `yaml:"replica_id"`
	// TLS secures both gRPC ports and the admin port; off when CertFile
	// is empty.
	TLS TLS `yaml:"tls"`
	// Insecure allows listening beyond loopback without TLS or without
	// authentication; evented then warns at start. Without it such a
	// configuration is refused.
	Insecure bool `yaml:"insecure"`
}

// TLS is the server's certificate, and the CA of its clients for mutual
// TLS. The files are read again when they change (a new handshake sees the
// new ones), so a renewed certificate needs no restart.
type TLS struct {
	// CertFile and KeyFile are PEM files: the certificate chain, leaf
	// first, and its private key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes TLS mutual: every client must present
	// a certificate signed by one of the PEM certificates in it.
	ClientCAFile string `yaml:"client_ca_file"`
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
	// CacheBytes bounds the memory of the aggregates kept between commands
	// (events and snapshots, in bytes); 0 keeps none.
	CacheBytes int `yaml:"cache_bytes"`
	// UpcastCacheBytes bounds the memory of upcast events kept so that
	// an event is not upcast again on every read (bytes); 0 keeps none.
	UpcastCacheBytes int `yaml:"upcast_cache_bytes"`
	// MaxConcurrent bounds the commands and records handled at once; one
	// more waits up to QueueWait for a free slot, then is refused with
	// RESOURCE_EXHAUSTED.
	MaxConcurrent int           `yaml:"max_concurrent"`
	QueueWait     time.Duration `yaml:"queue_wait"`
}

// BusinessLogic routes a domain to the service that decides its commands.
type BusinessLogic struct {
	// Domain is the domain whose commands the service decides.
	Domain string `yaml:"domain"`
	// Address is the service's host:port (gRPC, evented.BusinessLogic).
	Address string `yaml:"address"`
	// Snapshots is the domain's snapshot policy.
	Snapshots SnapshotPolicy `yaml:"snapshots"`
	// TLS secures the connection to the service (outbound.go).
	TLS ServiceTLS `yaml:"tls,omitempty"`
	// TokenFile is a file holding one bearer token, sent to the service on
	// every call and read again when it changes; it needs TLS unless the
	// address is a loopback one.
	TokenFile string `yaml:"token_file,omitempty"`
}

// SnapshotPolicy says which snapshots returned by business logic are stored.
type SnapshotPolicy struct {
	// Disabled drops every snapshot returned with a command; automatic
	// snapshots (Every, LoadOver, Idle) are still taken.
	Disabled bool `yaml:"disabled"`
	// MinEvents stores a returned snapshot only when at least this many events
	// were appended since the stored one (0: store every one).
	MinEvents int `yaml:"min_events"`

	// Automatic snapshots: evented asks the business logic for the state
	// (its optional Snapshot RPC) without waiting for a command, when
	// one of these holds; 0 turns each off.
	//
	// Every takes one when this many events were appended since the
	// latest snapshot.
	Every int `yaml:"every"`
	// LoadOver takes one when loading the aggregate for a command read
	// its snapshot and events for longer than this.
	LoadOver time.Duration `yaml:"load_over"`
	// Idle takes one when the aggregate got no event for this long and
	// has events after its latest snapshot.
	Idle time.Duration `yaml:"idle"`
	// StateType, when set, is the only state type URL a snapshot of the
	// domain may have: one of another type (an older state shape) is
	// ignored on load and replaced by the next one. Change it with the
	// shape of the state, e.g. type.googleapis.com/shop.CustomerStateV2.
	StateType string `yaml:"state_type"`
	// Keep is how many snapshots of each aggregate are kept, the newest
	// (1 to 100, eventstore.MaxSnapshotsKept; 0 means 1): the latest is the one
	// loaded, the older ones stay in the store to read back. Storing one
	// deletes those beyond it.
	Keep int `yaml:"keep"`
}

// Auto reports whether p takes snapshots on its own.
func (p SnapshotPolicy) Auto() bool { return p.Every > 0 || p.LoadOver > 0 || p.Idle > 0 }

// Upcaster is a service (evented.Upcaster, any language) that upcasts
// events of one domain (empty: of every domain without a step of its own):
// each step raises one event type by one schema version
// (docs/howto/upcasting.md).
type Upcaster struct {
	// Domain is the domain whose events it upcasts; empty means every
	// domain without an upcaster of its own.
	Domain string `yaml:"domain"`
	// Address is the service's host:port (gRPC, evented.Upcaster).
	Address string `yaml:"address"`
	// Steps are the steps the service does, checked together at start.
	Steps []UpcastStep `yaml:"steps"`
	// TLS secures the connection to the service (outbound.go).
	TLS ServiceTLS `yaml:"tls,omitempty"`
	// TokenFile is a file holding one bearer token, sent to the service on
	// every call and read again when it changes; it needs TLS unless the
	// address is a loopback one.
	TokenFile string `yaml:"token_file,omitempty"`
}

// UpcastStep is one step an upcaster service does: events of Type at
// version FromVersion become version FromVersion+1 of To (empty: Type).
type UpcastStep struct {
	// Type is the type URL of the events the step reads.
	Type string `yaml:"type"`
	// FromVersion is the schema version it reads; it writes the next one.
	FromVersion int `yaml:"from_version"`
	// To is the type URL it writes; empty means Type.
	To string `yaml:"to,omitempty"`
}

// Consumer is a projector or saga.
type Consumer struct {
	// Name names the subscription: its checkpoints, parked events and
	// metrics label.
	Name string `yaml:"name"`
	// Address is the service's host:port (gRPC).
	Address string `yaml:"address"`
	// Synchronous makes evented call it inline too, before the reply to a
	// command (HandleSync); its subscription still delivers what failed.
	Synchronous bool `yaml:"synchronous"`
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
	// Version runs this entry as one version of the projector Name, beside
	// its other versions (blue/green): a newer version starts from the
	// beginning under its own checkpoints, its catching up delivered as a
	// replay, while the active one goes on; evented cutover makes it the
	// active one. 0 means unversioned (version 1). Projectors only.
	Version int `yaml:"version,omitempty"`
	// Cutover is manual (default: evented cutover) or auto: cut over to
	// this version as soon as it has caught up.
	Cutover string `yaml:"cutover,omitempty"`
	// PublishProjections (projectors only) makes evented ask the projector
	// HandleSync on its asynchronous deliveries too and keep the
	// Projection it returns, for subscription queries
	// (evented.ProjectionQuery).
	PublishProjections bool `yaml:"publish_projections,omitempty"`
	// TLS secures the connection to the service (outbound.go).
	TLS ServiceTLS `yaml:"tls,omitempty"`
	// TokenFile is a file holding one bearer token, sent to the service on
	// every call and read again when it changes; it needs TLS unless the
	// address is a loopback one.
	TokenFile string `yaml:"token_file,omitempty"`
}

// Auth is who may call evented, and what they may do. Authentication is off
// (anyone who reaches the ports may do anything) unless at least one of
// TokensFile, OIDC.Issuer or MTLS is set; then every call must carry an
// identity, and its roles decide what it may call (docs/howto/security.md).
type Auth struct {
	// TokensFile holds static bearer tokens, stored hashed: a name,
	// the token's SHA-256, roles and optional domains each (`evented
	// token new` makes an entry). Read again when it changes.
	TokensFile string `yaml:"tokens_file"`
	// OIDC accepts JWTs from an OpenID Connect issuer.
	OIDC OIDC `yaml:"oidc"`
	// MTLS maps client certificates (server.tls.client_ca_file) to roles.
	MTLS []MTLSIdentity `yaml:"mtls"`
}

// OIDC accepts bearer JWTs signed by an OpenID Connect issuer.
type OIDC struct {
	// Issuer is the issuer URL, equal to the tokens' iss claim.
	Issuer string `yaml:"issuer"`
	// Audience must be in the tokens' aud claim.
	Audience string `yaml:"audience"`
	// JWKSURL is where the issuer's signing keys are; empty means the
	// jwks_uri of the issuer's discovery document.
	JWKSURL string `yaml:"jwks_url"`
	// RolesClaim names the claim that lists the caller's roles (a list
	// or a space-separated string); a dotted path reaches into objects,
	// such as realm_access.roles.
	RolesClaim string `yaml:"roles_claim"`
	// DomainsClaim, when set, names the claim that lists the domains the
	// caller may touch; a token without it may touch every domain.
	DomainsClaim string `yaml:"domains_claim"`
}

// MTLSIdentity gives roles to the clients whose verified certificate has
// Name as its subject common name or as one of its DNS names.
type MTLSIdentity struct {
	// Name is the certificate's subject common name or one of its DNS
	// names.
	Name string `yaml:"name"`
	// Roles are what it may call: command, record, query, admin.
	Roles []string `yaml:"roles"`
	// Domains, when set, are the only domains it may touch.
	Domains []string `yaml:"domains"`
}

// Enabled reports whether any kind of authentication is configured.
func (a Auth) Enabled() bool {
	return a.TokensFile != "" || a.OIDC.Issuer != "" || len(a.MTLS) > 0
}

// Log configures logging.
type Log struct {
	// Level is trace (the same as debug), debug, info, warn, error or off;
	// EVENTED_LOG overrides it.
	Level string `yaml:"level"`
	// Format is auto (text on a terminal, JSON otherwise), text or json.
	Format string `yaml:"format"`
}

// Default returns the built-in configuration: SQLite at ./data/events.db,
// ports 1313 and 1314 on loopback only (127.0.0.1), no business logic configured (the
// placeholder answers every domain).
func Default() Config {
	return Config{
		Storage: Storage{Type: "sqlite", Path: "./data/events.db", Sync: "full"},
		Server: Server{
			Host:               "127.0.0.1",
			CommandHandlerPort: 1313,
			EventQueryPort:     1314,
			AdminPort:          1315,
			ShutdownTimeout:    30 * time.Second,
		},
		Command: Command{MaxAttempts: 5, Timeout: 10 * time.Second, IdempotencyRetention: 24 * time.Hour,
			CacheBytes: 64 << 20, UpcastCacheBytes: 32 << 20, MaxConcurrent: 256, QueueWait: 100 * time.Millisecond},
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
		Deadlines: Deadlines{Segments: 4, Poll: 100 * time.Millisecond, Batch: 1000, Concurrency: 64},
		Bus:       Bus{Type: "none", InFlight: 256},
		Tracing:   Tracing{Exporter: "none", Endpoint: "localhost:4317", SampleRatio: 1},
		Log:       Log{Level: "info", Format: "auto"},
		Auth:      Auth{OIDC: OIDC{RolesClaim: "roles"}},
		Limits: Limits{
			MaxRequestBytes:  4 << 20,
			MaxResponseBytes: 4 << 20,
			MaxCallBytes:     4 << 20,
			MaxPages:         1000,
			MaxEventBytes:    2 << 20,
			MaxDomainLength:  64,
			MaxStreams:       100,
			RateBurst:        100,
			MetricsDomains:   100,
		},
	}
}
