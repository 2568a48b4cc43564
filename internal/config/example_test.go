package config_test

import (
	"fmt"
	"os"

	"github.com/evented/evented/internal/config"
)

func ExampleLoad() {
	// A server passes os.Getenv; this example passes its own environment.
	env := map[string]string{
		"EVENTED_STORAGE__TYPE":    "memory",
		"EVENT_QUERY_PORT":         "1400",
		"EVENTED_COMMAND__TIMEOUT": "5s",
		"EVENTED_BUSINESS_LOGIC":   `[{domain: customer, address: "localhost:50052"}]`,
	}
	cfg, src, err := config.Load("", func(name string) string { return env[name] })
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := config.Print(os.Stdout, cfg, src); err != nil {
		fmt.Println(err)
	}
	// Output:
	// storage:
	//   type: memory # env EVENTED_STORAGE__TYPE
	//   path: ./data/events.db # default
	//   url: "" # default
	//   sync: full # default
	// server:
	//   host: 127.0.0.1 # default
	//   command_handler_port: 1313 # default
	//   event_query_port: 1400 # env EVENT_QUERY_PORT
	//   admin_port: 1315 # default
	//   shutdown_timeout: 30s # default
	//   replica_id: "" # default
	//   tls:
	//     cert_file: "" # default
	//     key_file: "" # default
	//     client_ca_file: "" # default
	//   insecure: false # default
	// command:
	//   max_attempts: 5 # default
	//   timeout: 5s # env EVENTED_COMMAND__TIMEOUT
	//   idempotency_retention: 24h0m0s # default
	//   cache_bytes: 67108864 # default
	//   upcast_cache_bytes: 33554432 # default
	//   max_concurrent: 256 # default
	//   queue_wait: 100ms # default
	// business_logic: # env EVENTED_BUSINESS_LOGIC
	//   - domain: customer
	//     address: localhost:50052
	//     snapshots:
	//       disabled: false
	//       min_events: 0
	//       every: 0
	//       load_over: 0s
	//       idle: 0s
	//       state_type: ""
	//       keep: 0
	// projectors: [] # default
	// sagas: [] # default
	// upcasters: [] # default
	// delivery:
	//   max_attempts: 10 # default
	//   backoff_min: 100ms # default
	//   backoff_max: 30s # default
	//   timeout: 10s # default
	//   workers: 8 # default
	//   segments: 4 # default
	//   lease_ttl: 10s # default
	//   max_book_bytes: 3145728 # default
	// deadlines:
	//   segments: 4 # default
	//   poll: 100ms # default
	//   batch: 1000 # default
	//   concurrency: 64 # default
	// bus:
	//   type: none # default
	//   url: "" # default
	//   in_flight: 256 # default
	// tracing:
	//   exporter: none # default
	//   endpoint: localhost:4317 # default
	//   sample_ratio: 1 # default
	// log:
	//   level: info # default
	//   format: auto # default
	// auth:
	//   tokens_file: "" # default
	//   oidc:
	//     issuer: "" # default
	//     audience: "" # default
	//     jwks_url: "" # default
	//     roles_claim: roles # default
	//     domains_claim: "" # default
	//   mtls: [] # default
	// limits:
	//   max_request_bytes: 4194304 # default
	//   max_response_bytes: 4194304 # default
	//   max_call_bytes: 4194304 # default
	//   max_pages: 1000 # default
	//   max_event_bytes: 2097152 # default
	//   max_domain_length: 64 # default
	//   max_streams: 100 # default
	//   rate_per_client: 0 # default
	//   rate_burst: 100 # default
	//   metrics_domains: 100 # default
	// console:
	//   descriptor_sets: [] # default
}

func ExampleLoad_errors() {
	env := map[string]string{
		"EVENTED_STORAGE__TYPE":    "mongo",
		"EVENTED_COMMAND__TIMEOUT": "10",
		"COMMAND_HANDLER_PORT":     "1314",
	}
	_, _, err := config.Load("", func(name string) string { return env[name] })
	fmt.Println(err)
	// Output:
	// env EVENTED_COMMAND__TIMEOUT: command.timeout: invalid value "10": want a duration such as "10s" or "1m30s"
	// env EVENTED_STORAGE__TYPE: storage.type: invalid value "mongo": want one of sqlite, memory, postgres, redis
	// server.event_query_port: 1314 is also server.command_handler_port: want two different ports (0 picks a free one)
}
