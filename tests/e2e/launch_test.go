package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// services are the example services, in the order they are started; port
// is the one examples/config.yaml gives each.
var services = []struct {
	name string
	port string
}{
	{"customer", "50052"},
	{"transaction", "50053"},
	{"saga-loyalty", "50054"},
	{"projector-receipt", "50055"},
	{"projector-log-customer", "50056"},
	{"projector-log-transaction", "50057"},
	{"projector-loyalty", "50058"},
}

// language builds and starts one language's example services.
type language struct {
	// missing says why the examples cannot run, or "" when they can.
	missing func(root string) string
	// build prepares the services (bin is a directory for binaries).
	build func(ctx context.Context, root, bin string) error
	// command starts one service.
	command func(root, bin, service string) *exec.Cmd
}

var languages = map[string]language{
	"go": {
		missing: func(root string) string {
			return missingFiles(root, "examples/go/%s/main.go")
		},
		build: func(ctx context.Context, root, bin string) error {
			args := []string{"build", "-ldflags=-s -w", "-o", bin + string(filepath.Separator)}
			for _, s := range services {
				args = append(args, "./examples/go/"+s.name)
			}
			return run(ctx, root, "go", args...)
		},
		command: func(_, bin, service string) *exec.Cmd {
			return exec.Command(filepath.Join(bin, service))
		},
	},
	"python": {
		missing: func(root string) string {
			return missingFiles(root, "examples/python/%s/main.py")
		},
		build: func(context.Context, string, string) error { return nil },
		command: func(root, _, service string) *exec.Cmd {
			python := os.Getenv("E2E_PYTHON")
			if python == "" {
				// The virtualenv of examples/python/requirements.txt, when there is one.
				python = filepath.Join(root, ".venv", "bin", "python")
				if _, err := os.Stat(python); err != nil {
					python = "python3"
				}
			}
			return exec.Command(python, filepath.Join(root, "examples", "python", service, "main.py"))
		},
	},
	"rust": {
		missing: func(root string) string {
			if why := missingFiles(root, "examples/rust/%s/Cargo.toml"); why != "" {
				return why
			}
			if _, err := exec.LookPath("cargo"); err != nil {
				return "cargo is not installed"
			}
			return ""
		},
		// The Cargo workspace at the repository root, default profile: the
		// build cargo test makes, so CI compiles the dependencies once.
		build: func(ctx context.Context, root, _ string) error {
			return run(ctx, root, "cargo", "build", "--bins")
		},
		command: func(root, _, service string) *exec.Cmd {
			return exec.Command(filepath.Join(cargoTarget(root), "debug", service))
		},
	},
}

// cargoTarget is cargo's target directory: $CARGO_TARGET_DIR, else target/
// at the workspace root.
func cargoTarget(root string) string {
	if d := os.Getenv("CARGO_TARGET_DIR"); d != "" {
		if filepath.IsAbs(d) {
			return d
		}
		return filepath.Join(root, d)
	}
	return filepath.Join(root, "target")
}

// launchOverride is E2E_LAUNCH: a shell command per service.
func launchOverride(root, template, service string) *exec.Cmd {
	line := strings.NewReplacer("{service}", service, "{module}", strings.ReplaceAll(service, "-", "_")).Replace(template)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = root
	return cmd
}

func missingFiles(root, pattern string) string {
	var missing []string
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf(pattern, s.name))); err != nil {
			missing = append(missing, fmt.Sprintf(pattern, s.name))
		}
	}
	switch {
	case len(missing) == len(services):
		return fmt.Sprintf(pattern, "<service>") + ": none of the seven services is in this checkout yet"
	case len(missing) > 0:
		return strings.Join(missing, ", ") + " not in this checkout yet"
	}
	return ""
}

func cmp(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// execIn is exec.Command run in dir.
func execIn(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}

// run runs a build command, its output in the error.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
