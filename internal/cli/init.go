package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/scaffold"
)

// checkoutModule is the module line of an evented checkout's go.mod.
const checkoutModule = "module github.com/evented/evented"

func newInitCmd(stdout io.Writer) *cobra.Command {
	var lang, dir, checkout string
	var port int
	cmd := &cobra.Command{
		Use:   "init --lang go|python|rust NAME",
		Short: "Write a new domain service: business logic, its test, its .proto and evented's configuration",
		Long: `Write a new domain service for the domain NAME into --dir (default ./NAME), which
must be missing or empty: nothing is ever overwritten. The project holds

  business logic with one command (NAME.Create) and one event (NAME.Created),
  its test with the SDK's test kit, the messages as proto/NAME.proto and as
  NAME.binpb (for evented send --descriptor-set and the console), evented.yaml
  (evented's configuration for the domain) and a README saying how to build,
  test and run it.

The project uses the SDK of an evented checkout (--checkout, default: the checkout
the current directory is in): Go through a replace directive in go.mod, Python
through a wheel built from sdk/python, Rust through a path dependency on sdk/rust.
The SDKs are not published yet; the README says what changes once they are.`,
		Example: `  evented init --lang go --checkout ~/src/evented inventory
  evented init --lang python --dir ~/work/guestbook guestbook
  evented init --lang rust --port 50070 parcels`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want NAME, the domain, got %d argument(s); e.g. evented init --lang go inventory", len(args))
			}
			return scaffold.CheckName(args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if lang == "" {
				return fmt.Errorf("--lang is required: one of %s", strings.Join(scaffold.Langs, ", "))
			}
			if dir == "" {
				dir = name
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			co, err := findCheckout(checkout)
			if err != nil {
				return err
			}
			written, err := scaffold.Write(scaffold.Options{Lang: lang, Name: name, Dir: abs, Checkout: co, Port: port})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Wrote a %s service for the domain %s into %s, using the SDK of %s:\n", langTitle(lang), name, tilde(abs), tilde(co))
			for _, f := range written {
				fmt.Fprintln(stdout, "  "+f)
			}
			fmt.Fprintf(stdout, "Next: cd %s, then follow README.md (build, test, run, send a command).\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "", "the service's language: go, python or rust")
	cmd.Flags().StringVar(&dir, "dir", "", "the project's directory, missing or empty (default ./NAME)")
	cmd.Flags().StringVar(&checkout, "checkout", "", "the evented checkout whose SDK the project uses (default: the one the current directory is in)")
	cmd.Flags().IntVar(&port, "port", 50061, "the port the service listens on by default, and evented.yaml's address")
	return cmd
}

// tilde is path with the home directory written ~.
func tilde(path string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return path
	}
	if rel, err := filepath.Rel(home, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		if rel == "." {
			return "~"
		}
		return filepath.Join("~", rel)
	}
	return path
}

func langTitle(lang string) string {
	switch lang {
	case "go":
		return "Go"
	case "python":
		return "Python"
	}
	return "Rust"
}

// findCheckout is the evented checkout at dir, or when dir is empty the one
// the current directory is in, as an absolute path.
func findCheckout(dir string) (string, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		if !isCheckout(abs) {
			return "", fmt.Errorf("--checkout %s: not an evented checkout (no go.mod with %q there)", abs, checkoutModule)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isCheckout(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", errors.New("--checkout DIR is required outside an evented checkout: the path of your clone of evented, whose SDK the project uses until the SDKs are published")
}

func isCheckout(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.TrimSpace(s.Text()) == checkoutModule {
			return true
		}
	}
	return false
}
