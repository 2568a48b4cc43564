package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evented/evented/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLevel(t *testing.T) {
	tests := []struct {
		cfgLevel, evLog string
		want            slog.Level
	}{
		{"info", "", slog.LevelInfo},
		{"", "", slog.LevelInfo},
		{"debug", "", slog.LevelDebug},
		{"warn", "", slog.LevelWarn},
		{"error", "", slog.LevelError},
		{"info", "debug", slog.LevelDebug},
		{"debug", "error", slog.LevelError},
		{"info", "WARN", slog.LevelWarn},
		{"info", "trace", slog.LevelDebug},
		{"info", "off", slog.LevelError + 100},
		{"info", "evented=debug", slog.LevelDebug},
		{"info", "info,evented=debug", slog.LevelDebug},
		{"info", "evented=warn,debug", slog.LevelWarn},
		{"debug", "sqlx=debug,evented=info", slog.LevelInfo},
		{"info", "evented::server=debug,evented=warn", slog.LevelDebug},
		{"info", "evented", slog.LevelDebug},
		{"warn", "sqlx=debug", slog.LevelWarn},
		{"warn", " , ", slog.LevelWarn},
		{"info", "tower=trace,error", slog.LevelError},
		// log.level takes what EVENTED_LOG takes (EVENTED_LOG__LEVEL=trace).
		{"trace", "", slog.LevelDebug},
		{"off", "", slog.LevelError + 100},
	}
	for _, tt := range tests {
		t.Run(tt.cfgLevel+"/"+tt.evLog, func(t *testing.T) {
			l, err := New(&bytes.Buffer{}, config.Log{Level: tt.cfgLevel, Format: "json"}, env("EVENTED_LOG", tt.evLog))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if !l.Enabled(ctx, tt.want) || (tt.want > slog.LevelDebug && l.Enabled(ctx, tt.want-1)) {
				t.Errorf("want level %v", tt.want)
			}
		})
	}
}

func TestLevelErrors(t *testing.T) {
	tests := []struct {
		cfg   config.Log
		evLog string
		want  string
	}{
		{config.Log{Level: "info", Format: "auto"}, "verbose",
			`EVENTED_LOG: invalid level "verbose" in "verbose": want trace, debug, info, warn, error or off`},
		{config.Log{Level: "info", Format: "auto"}, "evented=loud",
			`EVENTED_LOG: invalid level "loud" in "evented=loud"`},
		{config.Log{Level: "info", Format: "auto"}, "sqlx=much,evented=debug",
			`EVENTED_LOG: invalid level "much"`},
		{config.Log{Level: "verbose", Format: "auto"}, "",
			`log.level: invalid value "verbose": want one of trace, debug, info, warn, error, off`},
		{config.Log{Level: "info", Format: "yaml"}, "",
			`log.format: invalid value "yaml": want one of auto, text, json`},
	}
	for _, tt := range tests {
		_, err := New(&bytes.Buffer{}, tt.cfg, env("EVENTED_LOG", tt.evLog))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("New(%+v, EVENTED_LOG=%q): got %v, want %s…", tt.cfg, tt.evLog, err, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		format string
		json   bool
	}{
		{"auto", true}, // a buffer is not a terminal
		{"", true},
		{"json", true},
		{"text", false},
	} {
		var out bytes.Buffer
		l, err := New(&out, config.Log{Format: tt.format}, env())
		if err != nil {
			t.Fatal(err)
		}
		l.Info("hello", "component", "test")
		if got := isJSON(out.Bytes()); got != tt.json {
			t.Errorf("format %q: got %q, want JSON: %v", tt.format, out.String(), tt.json)
		}
		if !tt.json && !strings.Contains(out.String(), "msg=hello component=test") {
			t.Errorf("format %q: got %q, want text", tt.format, out.String())
		}
	}
}

func TestFormatAutoFile(t *testing.T) {
	// A file has a descriptor, as a terminal does, but is not one.
	p := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := New(f, config.Log{Format: "auto"}, env())
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hello", "component", "test")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !isJSON(data) {
		t.Errorf("got %q, want JSON", data)
	}
}

func isJSON(line []byte) bool {
	var rec map[string]any
	return json.Unmarshal(line, &rec) == nil && rec["msg"] == "hello" && rec["component"] == "test"
}
