// Package cli is the evented command line: `evented serve`, `evented config`,
// `evented version`. cmd/evented only wires a signal-aware context to Main.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/logging"
	"github.com/evented/evented/internal/server"
)

// Main runs the command line with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "evented:", err)
		return 1
	}
	return 0
}

// Root returns the command tree, for tools that document it (docs/reference/cli).
func Root() *cobra.Command { return newRoot(os.Stdout, os.Stderr) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "evented",
		Short: "evented: event store, command coordinator and event distribution for CQRS / Event Sourcing",
		Long: `evented stores events with sequence validation and optimistic concurrency,
routes commands to your business logic services over gRPC, and serves the events back.

Start it with no configuration to get SQLite at ./data/events.db, the command port
on 1313, the query port on 1314 and a placeholder business logic.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var configPath string
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "", "config file (default: $EVENTED_CONFIG, else ./config.yaml if present, else built-in defaults)")
	load := func() (config.Config, config.Sources, error) { return config.Load(configPath, os.Getenv) }

	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Run the evented server until SIGINT or SIGTERM",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, src, err := load()
				if err != nil {
					return err
				}
				log, err := logging.New(stderr, cfg.Log, os.Getenv)
				if err != nil {
					return err
				}
				// Backends log their connection retries and durability
				// warnings to the default logger: make it this one.
				slog.SetDefault(log)
				srv, err := server.New(cmd.Context(), cfg, log, server.WithSources(src))
				if err != nil {
					return err
				}
				return srv.Run(cmd.Context())
			},
		},
		newConfigCmd(load, &configPath, stdout),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version of this binary",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(stdout, "evented", Version())
			},
		},
		newSendCmd(load),
		newEventsCmd(load),
		newSnapshotCmd(load),
		newSnapshotsCmd(load),
		newAggregatesCmd(load),
		newSubscriptionsCmd(load),
		newParkedCmd(load),
		newDeadlinesCmd(load),
		newQueriesCmd(load),
		newReplayCmd(load),
		newDiscardCmd(load),
		newRecordCmd(load),
		newStatusCmd(load),
		newResetCmd(load),
		newCutOverCmd(load),
		newMigrateCmd(load),
		newTokenCmd(),
		newBenchCmd(),
		newInitCmd(stdout),
	)
	return root
}

func newConfigCmd(load func() (config.Config, config.Sources, error), configPath *string, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check or show the effective configuration"}
	c.AddCommand(
		&cobra.Command{
			Use:   "validate",
			Short: "Load the configuration and report every problem in it",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				if _, _, err := load(); err != nil {
					return err
				}
				// Say what was checked: a mistyped path or a forgotten
				// EVENTED_CONFIG is otherwise a silent "valid".
				if file := config.File(*configPath, os.Getenv); file != "" {
					fmt.Fprintf(stdout, "configuration is valid: %s, with the environment's EVENTED_ variables\n", file)
				} else {
					fmt.Fprintf(stdout, "configuration is valid: no file (no --config, no $%s, no ./config.yaml): the defaults and the environment's EVENTED_ variables\n", config.EnvConfig)
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "print",
			Short: "Print the effective configuration with the source of each value",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				cfg, src, err := load()
				if err != nil {
					return err
				}
				return config.Print(stdout, cfg, src)
			},
		},
		newConfigEnvCmd(),
	)
	return c
}

// Version is the module version the binary was built from, "(devel)" for a
// local build.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "(devel)"
}
