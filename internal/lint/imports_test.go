// Package lint holds tests that keep the code base's shape: which packages
// may import which.
package lint

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/evented/evented"

// core packages hold evented's rules. They depend on nothing but ports and
// the standard library (plus uuid): no driver, no gRPC, no YAML, no adapter.
var core = []string{
	"internal/eventstore",
	"internal/business",
	"internal/command",
	"internal/query",
	"internal/delivery",
	"internal/snapshot",
	"internal/upcast",
	"internal/deadline",
}

// forbiddenInCore are import path prefixes the core must not reach, even
// transitively.
var forbiddenInCore = []string{
	"google.golang.org/grpc",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/redis/go-redis",
	"github.com/rabbitmq/amqp091-go",
	"github.com/nats-io",
	"go.yaml.in/yaml",
	"gopkg.in/yaml",
	module + "/internal/config",
	module + "/internal/server",
	module + "/internal/grpcapi",
}

// adapters implement one port each; only the composition root (server) and
// its callers may import them.
var adapterParents = []string{"internal/eventstore/", "internal/business/", "internal/delivery/", "internal/bus/", "internal/upcast/"}

// internal/bench is a composition root too: it builds servers, stores and
// buses to measure them beside raw floors that speak the adapters' wire
// formats (the relay's floor publishes the bus adapter's own messages).
var mayImportAdapters = []string{"internal/server", "internal/cli", "cmd/", "internal/bench"}

type pkg struct {
	path    string
	imports []string
	deps    []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs = append(pkgs, pkg{path: f[0], imports: strings.Fields(f[1]), deps: strings.Fields(f[2])})
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func isCore(path string) bool {
	for _, c := range core {
		if rel(path) == c {
			return true
		}
	}
	return false
}

func isAdapter(path string) bool {
	r := rel(path)
	for _, p := range adapterParents {
		if strings.HasPrefix(r, p) && !strings.HasSuffix(r, "test") {
			return true
		}
	}
	return false
}

func TestCoreImportsNoInfrastructure(t *testing.T) {
	checked := 0
	for _, p := range list(t) {
		if !isCore(p.path) {
			continue
		}
		checked++
		for _, d := range p.deps {
			for _, f := range forbiddenInCore {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s: the core must not reach drivers, gRPC, YAML or the composition root", rel(p.path), d)
				}
			}
			if isAdapter(d) {
				t.Errorf("%s depends on adapter %s: the core knows ports only", rel(p.path), rel(d))
			}
		}
	}
	if checked != len(core) {
		t.Fatalf("found %d of the %d core packages; update the list in this test", checked, len(core))
	}
}

func TestOnlyTheCompositionRootImportsAdapters(t *testing.T) {
	for _, p := range list(t) {
		r := rel(p.path)
		allowed := false
		for _, a := range mayImportAdapters {
			if strings.HasPrefix(r, a) {
				allowed = true
			}
		}
		for _, imp := range p.imports {
			if !isAdapter(imp) || allowed {
				continue
			}
			// An adapter's own test helpers and children are its business.
			if strings.HasPrefix(rel(imp), r+"/") || strings.HasPrefix(r, rel(imp)) {
				continue
			}
			t.Errorf("%s imports adapter %s; only %v may", r, rel(imp), mayImportAdapters)
		}
	}
}

func TestPublicAPIPullsInNoServer(t *testing.T) {
	for _, p := range list(t) {
		if r := rel(p.path); !strings.HasPrefix(r, "api") && !strings.HasPrefix(r, "sdk") {
			continue
		}
		for _, d := range p.deps {
			if strings.HasPrefix(d, module+"/internal") || strings.HasPrefix(d, "modernc.org/sqlite") {
				t.Errorf("public package %s depends on %s", rel(p.path), d)
			}
		}
	}
}
