// Package logging builds evented's *slog.Logger from the log section of the
// configuration and the EVENTED_LOG variable.
//
// Records are human-readable text when they go to a terminal and JSON lines
// otherwise (log.format: auto), unless log.format forces text or json.
//
// EVENTED_LOG, when set, overrides log.level. It takes a plain level (trace,
// debug, info, warn, error, off) or, so that habits from evented-rs keep
// working, RUST_LOG-style comma-separated directives: "evented=debug",
// "info,evented=debug", "sqlx=debug,evented=info". A directive for the evented
// target (or evented::…) beats a plain level; directives for other targets
// are ignored, since evented has one level for everything. slog has no trace
// level, so trace means debug.
//
// The logger is built once, in the composition root, and handed to every
// component, which scopes it with .With("component", …).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"golang.org/x/term"

	"github.com/evented/evented/internal/config"
)

// levels are the slog levels of config.LogLevels; off is above every
// record slog emits, and slog has no trace level, so trace means debug.
var levels = map[string]slog.Level{
	"trace": slog.LevelDebug,
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
	"off":   slog.LevelError + 100,
}

// New returns a logger writing to w. env looks up EVENTED_LOG (os.Getenv in
// production, a map in tests), read by config.LogLevel. The zero config.Log
// means info and auto.
func New(w io.Writer, cfg config.Log, env func(string) string) (*slog.Logger, error) {
	if cfg.Level == "" {
		cfg.Level = "info"
	}
	level, ok := levels[cfg.Level]
	if !ok {
		return nil, fmt.Errorf("log.level: invalid value %q: want one of %s", cfg.Level, strings.Join(config.LogLevels, ", "))
	}
	if v := env(config.EnvLog); v != "" {
		name, found, err := config.LogLevel(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvLog, err)
		}
		if found {
			level = levels[name]
		}
	}

	opts := &slog.HandlerOptions{Level: level}
	switch cfg.Format {
	case "auto", "":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: invalid value %q: want one of auto, text, json", cfg.Format)
}

// isTerminal reports whether w is a terminal, where people read logs rather
// than machines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
