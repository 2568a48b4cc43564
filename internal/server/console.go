package server

import (
	"fmt"
	"net"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/console"
	dremote "github.com/evented/evented/internal/delivery/remote"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/protoview"
)

// WithSources gives the server where each configuration value came from
// (config.Load's Sources): the console shows it and the start-up log
// names the configuration file.
func WithSources(src config.Sources) Option {
	return func(o *options) { o.sources = src }
}

// WithConsoleSampling samples the console's charts and checks the services
// evented calls every d instead of every 5 s (tests).
func WithConsoleSampling(d time.Duration) Option {
	return func(o *options) { o.sampleEvery = d }
}

// The kinds of services evented calls, as the console and the outage
// log name them (projector and saga: dremote.Kind.String).
const (
	kindBusinessLogic = "business_logic"
	kindBroker        = "broker"
)

// reachName is a projector's or saga's name in the console and the outage
// log: with its version when it has one.
func reachName(c config.Consumer) string {
	if c.Version > 0 {
		return fmt.Sprintf("%s v%d", c.Name, c.Version)
	}
	return c.Name
}

// reachTargets lists the services evented calls, in configuration order.
func reachTargets(cfg config.Config) []console.Target {
	var t []console.Target
	for _, b := range cfg.BusinessLogic {
		t = append(t, console.Target{Kind: kindBusinessLogic, Name: b.Domain, Address: b.Address})
	}
	for _, p := range cfg.Projectors {
		t = append(t, console.Target{Kind: dremote.Projector.String(), Name: reachName(p), Address: p.Address})
	}
	for _, s := range cfg.Sagas {
		t = append(t, console.Target{Kind: dremote.Saga.String(), Name: reachName(s), Address: s.Address})
	}
	if cfg.Bus.Type != "" && cfg.Bus.Type != "none" && cfg.Bus.URL != "" {
		t = append(t, console.Target{Kind: kindBroker, Name: cfg.Bus.Type, Address: cfg.Bus.URL})
	}
	return t
}

// newConsole prepares the console and its background checks; the admin
// port serves it at /.
func (s *Server) newConsole(o options, commands *grpcapi.Commands, admin *grpcapi.Admin) error {
	reg, err := protoview.Load(s.cfg.Console.DescriptorSets)
	if err != nil {
		return fmt.Errorf("console.descriptor_sets: %w", err)
	}
	s.reach = console.NewReach(reachTargets(s.cfg), o.sampleEvery, s.outages)
	s.samples = console.NewSampler(s.store, s.metrics.Registry, o.sampleEvery)
	interceptor := s.metrics.Interceptor()
	s.console = console.New(console.Options{
		Version: version(), Config: s.cfg, Sources: o.sources, Store: s.store, Hub: s.hub,
		Commands: commands, Admin: admin, Reach: s.reach, Samples: s.samples, Registry: reg,
		Log: s.log.With("component", "console"), Started: time.Now(),
		Intercept: interceptor,
	})
	return nil
}

// configFile is the configuration file the sources name, or "".
func configFile(src config.Sources) string {
	for _, v := range src {
		if f, ok := strings.CutPrefix(v, "file "); ok {
			return f
		}
	}
	return ""
}

// ConsoleURL is the console's address on the admin port, or "" when the
// admin port is off.
func (s *Server) ConsoleURL() string {
	if s.adminLis == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(s.adminLis.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if s.sec.adminTLS != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// startup is what the start-up log says: the configuration file, the
// store, every port and the console's URL.
func (s *Server) startup() []any {
	file := configFile(s.sources)
	if file == "" {
		file = "(none: defaults and environment)"
	}
	store := s.cfg.Storage.Type
	switch s.cfg.Storage.Type {
	case "sqlite":
		store += " " + s.cfg.Storage.Path
	case "postgres", "redis":
		store += " " + redactedURL(s.cfg.Storage.URL)
	}
	kv := []any{"config", file, "storage", store, "command_port", s.CommandAddr(), "query_port", s.QueryAddr()}
	if a := s.AdminAddr(); a != "" {
		kv = append(kv, "admin_port", a, "console", s.ConsoleURL())
	} else {
		kv = append(kv, "admin_port", "off (server.admin_port: -1): no metrics, probes or console")
	}
	return append(kv, "domains", s.router.describe())
}

func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "(devel)"
}
