package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evented/evented/internal/eventstore"
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
		v.add("server.host", "empty: want the address to listen on, such as 127.0.0.1 or 0.0.0.0")
	}
	v.tls(srv.TLS)
	v.auth(c.Auth, srv.TLS)
	if missing := Exposure(c); srv.Host != "" && len(missing) > 0 && !srv.Insecure {
		v.add("server.host", "%q is not a loopback address, and the ports would have no %s: anyone who reaches them could read and write every event. "+
			"Configure %s, or set server.insecure: true to accept that (or listen on 127.0.0.1)",
			srv.Host, strings.Join(missing, " and no "), strings.Join(missingKeys(missing), " and "))
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

	if c.Command.CacheBytes < 0 {
		v.add("command.cache_bytes", "invalid value %d: want 0 (keep none) or more bytes, such as 67108864", c.Command.CacheBytes)
	}
	if c.Command.UpcastCacheBytes < 0 {
		v.add("command.upcast_cache_bytes", "invalid value %d: want 0 (keep none) or more bytes, such as 33554432", c.Command.UpcastCacheBytes)
	}
	if c.Command.MaxConcurrent < 1 {
		v.add("command.max_concurrent", "invalid value %d: want 1 or more", c.Command.MaxConcurrent)
	}
	if c.Command.QueueWait < 0 {
		v.add("command.queue_wait", "invalid value %s: want 0 (refuse at once) or more, such as 100ms", c.Command.QueueWait)
	}
	v.limits(c.Limits)
	maxDomain := c.Limits.MaxDomainLength
	if maxDomain < 1 || maxDomain > eventstore.MaxDomainLimit {
		maxDomain = eventstore.DefaultMaxDomain // reported above
	}

	domains := map[string]int{}
	for i, bl := range c.BusinessLogic {
		key := fmt.Sprintf("business_logic[%d]", i)
		v.unique(key+".domain", bl.Domain, "business_logic", domains, i, "domain", "customer")
		v.domain(key+".domain", bl.Domain, maxDomain)
		v.address(key+".address", bl.Address)
		v.service(key, bl.Address, bl.TLS, bl.TokenFile)
		if bl.Snapshots.MinEvents < 0 {
			v.add(key+".snapshots.min_events", "invalid value %d: want 0 or more", bl.Snapshots.MinEvents)
		}
		sp := bl.Snapshots
		if sp.Every < 0 {
			v.add(key+".snapshots.every", "invalid value %d: want 0 (off) or more", sp.Every)
		}
		if sp.LoadOver < 0 {
			v.add(key+".snapshots.load_over", "invalid value %s: want 0 (off) or more", sp.LoadOver)
		}
		if sp.Idle < 0 {
			v.add(key+".snapshots.idle", "invalid value %s: want 0 (off) or more", sp.Idle)
		}
		if sp.Keep < 0 || sp.Keep > eventstore.MaxSnapshotsKept {
			v.add(key+".snapshots.keep", "invalid value %d: want 1 to %d snapshots per aggregate (0 means 1, the latest)", sp.Keep, eventstore.MaxSnapshotsKept)
		}
	}
	v.consumers("projectors", c.Projectors, maxDomain)
	v.upcasters(c.Upcasters, maxDomain)
	v.consumers("sagas", c.Sagas, maxDomain)
	// Projectors and sagas share one set of subscriber names (checkpoints,
	// evented-wait-for, DeliveryAdmin); "bus" is the relay's.
	for i, s := range c.Sagas {
		for j, p := range c.Projectors {
			if s.Name != "" && s.Name == p.Name {
				v.add(fmt.Sprintf("sagas[%d].name", i), "%q is also projectors[%d]: projectors and sagas share their names (checkpoints, evented-wait-for); want another name", s.Name, j)
				break
			}
		}
	}

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
	dl := c.Deadlines
	if dl.Segments < 1 || dl.Segments > 64 {
		v.add("deadlines.segments", "invalid value %d: want 1 to 64", dl.Segments)
	}
	if dl.Poll < time.Millisecond {
		v.add("deadlines.poll", "invalid value %s: want at least 1ms, such as 100ms", dl.Poll)
	}
	if dl.Batch < 1 {
		v.add("deadlines.batch", "invalid value %d: want 1 or more", dl.Batch)
	}
	if dl.Concurrency < 1 {
		v.add("deadlines.concurrency", "invalid value %d: want 1 or more", dl.Concurrency)
	}
	v.bus(c.Bus)
	v.oneOf("tracing.exporter", c.Tracing.Exporter, "none", "stdout", "otlp")
	if c.Tracing.Exporter == "otlp" {
		v.address("tracing.endpoint", c.Tracing.Endpoint)
	}
	if c.Tracing.SampleRatio <= 0 || c.Tracing.SampleRatio > 1 {
		v.add("tracing.sample_ratio", "invalid value %g: want more than 0 and at most 1", c.Tracing.SampleRatio)
	}

	v.oneOf("log.level", c.Log.Level, LogLevels...)
	v.oneOf("log.format", c.Log.Format, "auto", "text", "json")
	return errors.Join(v.errs...)
}

// Roles are the roles an identity may hold, each allowing one group of
// RPCs (docs/howto/security.md).
var Roles = []string{"command", "record", "query", "admin"}

// Loopback reports whether host is a loopback address ("localhost",
// 127.0.0.0/8, ::1): only then is a port reachable from this machine
// alone.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Exposure lists what protects nothing when the server listens beyond
// loopback: "TLS" (server.tls) and "authentication" (auth), each when it
// is missing. It is empty on loopback, and when both are configured.
func Exposure(c Config) []string {
	if Loopback(c.Server.Host) {
		return nil
	}
	var missing []string
	if c.Server.TLS.CertFile == "" {
		missing = append(missing, "TLS")
	}
	if !c.Auth.Enabled() {
		missing = append(missing, "authentication")
	}
	return missing
}

func missingKeys(missing []string) []string {
	var keys []string
	for _, m := range missing {
		switch m {
		case "TLS":
			keys = append(keys, "server.tls.cert_file and key_file")
		case "authentication":
			keys = append(keys, "auth.tokens_file, auth.oidc or auth.mtls")
		}
	}
	return keys
}

func (v *validator) tls(t TLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			v.add("server.tls.cert_file", "empty while server.tls.key_file is set: want both, the certificate's and the key's PEM files")
		} else {
			v.add("server.tls.key_file", "empty while server.tls.cert_file is set: want both, the certificate's and the key's PEM files")
		}
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		v.add("server.tls.client_ca_file", "set without server.tls.cert_file: mutual TLS needs the server's own certificate and key too")
	}
}

func (v *validator) auth(a Auth, t TLS) {
	o := a.OIDC
	if o.Issuer != "" {
		v.httpURL("auth.oidc.issuer", o.Issuer)
		if o.Audience == "" {
			v.add("auth.oidc.audience", "empty: want the audience evented's tokens are issued for (their aud claim), such as evented")
		}
		if o.RolesClaim == "" {
			v.add("auth.oidc.roles_claim", "empty: want the claim that lists the caller's roles, such as roles or realm_access.roles")
		}
		if o.JWKSURL != "" {
			v.httpURL("auth.oidc.jwks_url", o.JWKSURL)
		}
	} else if o.Audience != "" || o.JWKSURL != "" || o.DomainsClaim != "" {
		v.add("auth.oidc.issuer", "empty while other auth.oidc keys are set: want the issuer URL, such as https://login.example.com/realms/app")
	}
	if len(a.MTLS) > 0 && t.ClientCAFile == "" {
		v.add("auth.mtls", "set without server.tls.client_ca_file: client certificates are only asked for, and verified, with that CA")
	}
	names := map[string]int{}
	for i, m := range a.MTLS {
		key := fmt.Sprintf("auth.mtls[%d]", i)
		v.unique(key+".name", m.Name, "auth.mtls", names, i, "certificate common name or DNS name", "billing.example.com")
		v.roles(key, m.Roles, m.Domains)
	}
}

// roles checks the roles and domains of one identity at key.
func (v *validator) roles(key string, roles, domains []string) {
	if len(roles) == 0 {
		v.add(key+".roles", "empty: want one or more of %s", strings.Join(Roles, ", "))
	}
	for j, r := range roles {
		v.oneOf(fmt.Sprintf("%s.roles[%d]", key, j), r, Roles...)
		if r == "admin" && len(domains) > 0 {
			v.add(key+".domains", "set with role admin: admin calls are not about one domain; give admin to an identity without domains")
		}
	}
	for j, d := range domains {
		if d == "" {
			v.add(fmt.Sprintf("%s.domains[%d]", key, j), "empty: want a domain name, such as customer")
		}
	}
}

func (v *validator) httpURL(key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(key, "invalid value %q: want an https:// URL", raw)
	}
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
	if b.InFlight < 0 || b.InFlight > 4096 {
		v.add("bus.in_flight", "invalid value %d: want 1 to 4096 (0: the default, 256)", b.InFlight)
	}
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

func (v *validator) consumers(list string, cs []Consumer, maxDomain int) {
	names := map[string]int{}
	for i, c := range cs {
		key := fmt.Sprintf("%s[%d]", list, i)
		v.consumerName(key+".name", c.Name)
		id := c.Name
		if c.Version > 1 {
			id = fmt.Sprintf("%s version %d", c.Name, c.Version)
		}
		what := "name"
		if list == "projectors" {
			what = "name (or version of it)"
		}
		v.unique(key+".name", id, list, names, i, what, "receipt")
		switch {
		case c.Version < 0:
			v.add(key+".version", "invalid value %d: want 1 or more (0: unversioned)", c.Version)
		case c.Version > 0 && list != "projectors":
			v.add(key+".version", "set on a saga: versions run projectors side by side; a saga would act twice")
		}
		if c.Cutover != "" {
			v.oneOf(key+".cutover", c.Cutover, "manual", "auto")
			if c.Version == 0 {
				v.add(key+".cutover", "set without version: cutover applies to a version of a projector")
			}
		}
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
			} else {
				v.domain(fmt.Sprintf("%s.domains[%d]", key, j), d, maxDomain)
			}
		}
	}
}

// consumerName checks a projector's or saga's name: it names the
// subscription, its checkpoints and metrics, so letters, digits, '-' and
// '_' only ('@' and ':' are evented's own, in version and record names).
func (v *validator) consumerName(key, name string) {
	if len(name) > 100 {
		v.add(key, "%d characters long: want at most 100", len(name))
		return
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			v.add(key, "%q: character %q is not allowed; want letters, digits, '-' and '_', such as receipt-v2", name, r)
			return
		}
	}
}

// domain checks a configured domain with the rule requests are held to;
// an empty one is reported by the caller.
func (v *validator) domain(key, d string, max int) {
	if d == "" {
		return
	}
	if p := eventstore.DomainProblem(d, max); p != "" {
		v.add(key, "domain %s", p)
	}
}

func (v *validator) limits(l Limits) {
	const mib = 1 << 20
	for _, b := range []struct {
		key string
		val int
	}{
		{"limits.max_request_bytes", l.MaxRequestBytes},
		{"limits.max_response_bytes", l.MaxResponseBytes},
		{"limits.max_call_bytes", l.MaxCallBytes},
	} {
		if b.val < 64<<10 || b.val > 1024*mib {
			v.add(b.key, "invalid value %d: want 65536 to 1073741824 (bytes), such as 4194304", b.val)
		}
	}
	if l.MaxPages < 1 {
		v.add("limits.max_pages", "invalid value %d: want 1 or more, such as 1000", l.MaxPages)
	}
	if l.MaxEventBytes < 1024 {
		v.add("limits.max_event_bytes", "invalid value %d: want at least 1024 (bytes), such as 2097152", l.MaxEventBytes)
	} else if l.MaxEventBytes >= l.MaxRequestBytes && l.MaxRequestBytes >= 64<<10 {
		v.add("limits.max_event_bytes", "invalid value %d: want less than limits.max_request_bytes (%d), which must also hold the rest of the request", l.MaxEventBytes, l.MaxRequestBytes)
	}
	if l.MaxDomainLength < 1 || l.MaxDomainLength > eventstore.MaxDomainLimit {
		v.add("limits.max_domain_length", "invalid value %d: want 1 to %d (bytes; a bus routing key holds at most 255)", l.MaxDomainLength, eventstore.MaxDomainLimit)
	}
	if l.MaxStreams < 1 {
		v.add("limits.max_streams", "invalid value %d: want 1 or more, such as 100", l.MaxStreams)
	}
	if l.RatePerClient < 0 {
		v.add("limits.rate_per_client", "invalid value %g: want 0 (no limit) or more calls per second", l.RatePerClient)
	}
	if l.RateBurst < 1 {
		v.add("limits.rate_burst", "invalid value %d: want 1 or more calls", l.RateBurst)
	}
	if l.MetricsDomains < 0 || l.MetricsDomains > 10000 {
		v.add("limits.metrics_domains", "invalid value %d: want 0 to 10000", l.MetricsDomains)
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

// upcasters checks each upcaster service entry; whether their steps chain
// is checked when the server starts (package upcast).
func (v *validator) upcasters(ups []Upcaster, maxDomain int) {
	for i, u := range ups {
		key := fmt.Sprintf("upcasters[%d]", i)
		v.domain(key+".domain", u.Domain, maxDomain)
		v.address(key+".address", u.Address)
		v.service(key, u.Address, u.TLS, u.TokenFile)
		if len(u.Steps) == 0 {
			v.add(key+".steps", "empty: want the steps the service does, such as [{type: type.googleapis.com/examples.CustomerCreated, from_version: 1}]")
		}
		for j, s := range u.Steps {
			sk := fmt.Sprintf("%s.steps[%d]", key, j)
			if s.Type == "" {
				v.add(sk+".type", "empty: want the type URL of the events to upcast, such as type.googleapis.com/examples.CustomerCreated")
			}
			if s.FromVersion < 1 || s.FromVersion >= 1000 {
				v.add(sk+".from_version", "invalid value %d: want 1 to 999 (the version the step upcasts from)", s.FromVersion)
			}
		}
	}
}
