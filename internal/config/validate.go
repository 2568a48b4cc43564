package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Storage types, in the order messages list them.
var storageTypes = []string{"sqlite", "memory", "postgres", "redis"}

// urlSchemes are the URL schemes each networked storage type accepts.
var urlSchemes = map[string][]string{
	"postgres": {"postgres", "postgresql"},
	"redis":    {"redis", "rediss"},
}

// Validate reports every problem of c at once (errors.Join), each naming the
// key, the bad value and what is allowed. Load calls it; call it again after
// changing a Config in code.
func (c Config) Validate() error {
	var v validator

	s := c.Storage
	v.oneOf("storage.type", s.Type, storageTypes...)
	switch s.Type {
	case "sqlite":
		if s.Path == "" {
			v.add("storage.path", "empty: want the SQLite database file when storage.type is sqlite, such as ./data/events.db")
		}
	case "postgres", "redis":
		v.url("storage.url", s.URL, s.Type)
	}
	v.oneOf("storage.sync", s.Sync, "full", "normal")

	srv := c.Server
	v.port("server.command_handler_port", srv.CommandHandlerPort)
	v.port("server.event_query_port", srv.EventQueryPort)
	if srv.AdminPort != -1 {
		v.port("server.admin_port", srv.AdminPort)
	}
	if srv.AdminPort > 0 && (srv.AdminPort == srv.CommandHandlerPort || srv.AdminPort == srv.EventQueryPort) {
		v.add("server.admin_port", "%d is also a gRPC port: want a port of its own (0 picks a free one, -1 turns it off)", srv.AdminPort)
	}
	if srv.CommandHandlerPort != 0 && srv.CommandHandlerPort == srv.EventQueryPort {
		v.add("server.event_query_port", "%d is also server.command_handler_port: want two different ports (0 picks a free one)", srv.EventQueryPort)
	}
	if srv.Host == "" {
		v.add("server.host", "empty: want the address to listen on, such as 0.0.0.0 or localhost")
	}
	if srv.ShutdownTimeout < 0 {
		v.add("server.shutdown_timeout", "invalid value %s: want 0 or more", srv.ShutdownTimeout)
	}

	if c.Command.MaxAttempts < 1 {
		v.add("command.max_attempts", "invalid value %d: want 1 or more", c.Command.MaxAttempts)
	}
	if c.Command.Timeout <= 0 {
		v.add("command.timeout", "invalid value %s: want more than 0, such as 10s", c.Command.Timeout)
	}
	if c.Command.IdempotencyRetention <= 0 {
		v.add("command.idempotency_retention", "invalid value %s: want more than 0, such as 24h", c.Command.IdempotencyRetention)
	}

	domains := map[string]int{}
	for i, bl := range c.BusinessLogic {
		key := fmt.Sprintf("business_logic[%d]", i)
		v.unique(key+".domain", bl.Domain, "business_logic", domains, i, "domain", "customer")
		v.address(key+".address", bl.Address)
		v.service(key, bl.Address, bl.TLS, bl.TokenFile)
		if bl.Snapshots.MinEvents < 0 {
			v.add(key+".snapshots.min_events", "invalid value %d: want 0 or more", bl.Snapshots.MinEvents)
		}
	}
	v.consumers("projectors", c.Projectors)
	v.consumers("sagas", c.Sagas)

	d := c.Delivery
	if d.MaxAttempts < 1 {
		v.add("delivery.max_attempts", "invalid value %d: want 1 or more", d.MaxAttempts)
	}
	if d.BackoffMin <= 0 {
		v.add("delivery.backoff_min", "invalid value %s: want more than 0, such as 100ms", d.BackoffMin)
	}
	if d.BackoffMax < d.BackoffMin {
		v.add("delivery.backoff_max", "invalid value %s: want at least delivery.backoff_min (%s)", d.BackoffMax, d.BackoffMin)
	}
	if d.Timeout <= 0 {
		v.add("delivery.timeout", "invalid value %s: want more than 0, such as 10s", d.Timeout)
	}
	if d.Workers < 1 {
		v.add("delivery.workers", "invalid value %d: want 1 or more", d.Workers)
	}
	if d.Segments < 1 || d.Segments > 1024 {
		v.add("delivery.segments", "invalid value %d: want 1 to 1024", d.Segments)
	}
	if d.LeaseTTL < 100*time.Millisecond {
		v.add("delivery.lease_ttl", "invalid value %s: want at least 100ms, such as 10s", d.LeaseTTL)
	}
	if d.MaxBookBytes < 1024 {
		v.add("delivery.max_book_bytes", "invalid value %d: want at least 1024 (bytes)", d.MaxBookBytes)
	}
	v.bus(c.Bus)
	v.oneOf("tracing.exporter", c.Tracing.Exporter, "none", "stdout", "otlp")
	if c.Tracing.Exporter == "otlp" {
		v.address("tracing.endpoint", c.Tracing.Endpoint)
	}
	if c.Tracing.SampleRatio <= 0 || c.Tracing.SampleRatio > 1 {
		v.add("tracing.sample_ratio", "invalid value %g: want more than 0 and at most 1", c.Tracing.SampleRatio)
	}

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "auto", "text", "json")
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(key, "invalid value %q: want one of %s", val, strings.Join(allowed, ", "))
}

func (v *validator) port(key string, p int) {
	if p < 0 || p > 65535 {
		v.add(key, "invalid value %d: want a port from 1 to 65535, or 0 for any free port", p)
	}
}

func (v *validator) url(key, raw, typ string) {
	schemes := urlSchemes[typ]
	example := schemes[0] + "://…"
	if raw == "" {
		v.add(key, "empty: want a %s URL when storage.type is %s", example, typ)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The value is not shown: it may hold a password.
		v.add(key, "not a URL: want a %s URL", example)
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	v.add(key, "invalid value %q: want a URL with scheme %s when storage.type is %s",
		u.Redacted(), strings.Join(schemes, " or "), typ)
}

// busSchemes are the URL schemes each bus type accepts.
var busSchemes = map[string][]string{"amqp": {"amqp", "amqps"}, "nats": {"nats", "tls"}}

func (v *validator) bus(b Bus) {
	v.oneOf("bus.type", b.Type, "none", "inprocess", "amqp", "nats")
	schemes, ok := busSchemes[b.Type]
	if !ok {
		return
	}
	u, err := url.Parse(b.URL)
	if b.URL == "" || err != nil {
		v.add("bus.url", "empty or not a URL: want a %s:// URL when bus.type is %s", schemes[0], b.Type)
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	v.add("bus.url", "invalid value %q: want a URL with scheme %s when bus.type is %s",
		u.Redacted(), strings.Join(schemes, " or "), b.Type)
}

func (v *validator) address(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		v.add(key, "invalid value %q: want host:port, such as localhost:50052", addr)
	}
}

// unique checks that a list item's name is set and not used by an earlier
// item; seen maps names to the index of their first item.
func (v *validator) unique(key, name, list string, seen map[string]int, i int, what, example string) {
	if name == "" {
		v.add(key, "empty: want the %s, such as %s", what, example)
		return
	}
	if first, dup := seen[name]; dup {
		v.add(key, "%q is also %s[%d]: want each %s once", name, list, first, what)
		return
	}
	seen[name] = i
}

func (v *validator) consumers(list string, cs []Consumer) {
	names := map[string]int{}
	for i, c := range cs {
		key := fmt.Sprintf("%s[%d]", list, i)
		v.unique(key+".name", c.Name, list, names, i, "name", "receipt")
		v.address(key+".address", c.Address)
		v.service(key, c.Address, c.TLS, c.TokenFile)
		if c.MaxAttempts < 0 {
			v.add(key+".max_attempts", "invalid value %d: want 0 (delivery.max_attempts) or more", c.MaxAttempts)
		}
		if c.Start != "" {
			v.oneOf(key+".start", c.Start, "beginning", "head")
		}
		if c.PublishProjections && list != "projectors" {
			v.add(key+".publish_projections", "only projectors publish projections: remove it from %s", list)
		}
		for j, d := range c.Domains {
			if d == "" {
				v.add(fmt.Sprintf("%s.domains[%d]", key, j), "empty: want a domain name, such as customer")
			}
		}
	}
}

// keyError is one problem with one key.
type keyError struct {
	key    string // path such as "projectors[1].address"
	line   int    // in the file; 0 if not from a file
	origin string // where the value came from: "file …", "env …", "default"
	msg    string
}

func (e *keyError) Error() string {
	var b strings.Builder
	if strings.HasPrefix(e.origin, "env ") {
		b.WriteString(e.origin + ": ")
	} else if f, ok := strings.CutPrefix(e.origin, "file "); ok {
		b.WriteString(f + ": ")
	}
	if e.key == "" {
		b.WriteString("top level")
	}
	b.WriteString(e.key)
	if e.line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.line)
	}
	b.WriteString(": " + e.msg)
	return b.String()
}
