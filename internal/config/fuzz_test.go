package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadEnv loads a configuration file together with an EVENTED_
// variable of any key set to any value (FuzzLoad covers the file alone):
// Load never panics, what it accepts passes Validate, and every problem it
// reports names a key or a variable.
func FuzzLoadEnv(f *testing.F) {
	keys := leafKeys(reflect.TypeFor[Config](), "")
	index := func(key string) uint16 {
		for i, k := range keys {
			if k == key {
				return uint16(i)
			}
		}
		f.Fatalf("no key %s", key)
		return 0
	}
	f.Add([]byte(""), index("server.command_handler_port"), "1313")
	f.Add([]byte("server: {command_handler_port: 1}\n"), index("server.command_handler_port"), "70000")
	f.Add([]byte(""), index("command.timeout"), "-1s")
	f.Add([]byte("storage: {type: sqlite}\n"), index("storage.type"), "nosuch")
	f.Add([]byte(""), index("delivery.lease_ttl"), "[1, 2]")
	f.Add([]byte("log: {level: info}\n"), index("log.level"), "{a: b}")
	f.Add([]byte(""), index("storage.url"), "postgres://u:p@h/db?x=#: y")
	f.Fuzz(func(t *testing.T, data []byte, key uint16, val string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		name := EnvName(keys[int(key)%len(keys)])
		cfg, _, err := Load(p, func(n string) string {
			if n == name {
				return val
			}
			return ""
		})
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted %s=%q and a config Validate rejects: %v", name, val, verr)
			}
			return
		}
		for _, e := range unjoin(err) {
			var ke *keyError
			msg := e.Error()
			if !errors.As(e, &ke) && !strings.Contains(msg, ":") {
				t.Fatalf("problem %q names no key or variable", msg)
			}
		}
	})
}
