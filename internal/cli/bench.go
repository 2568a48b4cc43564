package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg       bench.Config
		scenarios string
		jsonPath  string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure evented beside its raw floors and print the ratios (see BENCHMARKS.md)",
		Long: `Run each scenario for evented and for its raw floor in this process, alternating,
for several rounds, and print the medians and the ratio evented/floor, then the
performance targets, met or not. Progress goes to stderr, the tables to stdout.

Scenarios (default: ` + strings.Join(bench.DefaultScenarios, ",") + `; replicas, lifecycle, relay
and scale are opt-in):
  append    1 and 16 writers, 1 and 10 events per append, durable SQLite;
            floor: the same rows by plain SQL, one transaction per batch
  command   Handle over gRPC with a Go business-logic stub, 1 and 16 clients;
            floor: a two-hop gRPC echo through the same stub (1 client on
            SQLite: the echo plus one durable single-row commit); on SQLite
            16 clients also against the echo plus a durable group commit,
            and plus a group sync of a plain file (no database; no targets)
  load      an aggregate of 100,000 events with a snapshot 10 events old and
            without one; floor: the same rows by a plain SELECT (PostgreSQL,
            Redis: the store's own queries by pgx, go-redis alone)
  delivery  commit-to-projector lag at 1,000 events/s and catch-up replay from
            position 0; floor: plain inserts and a raw sequential reader
            (PostgreSQL, Redis: one INSERT, one MULTI/EXEC per event, and the
            log read by pgx, go-redis alone)
  replicas  2 and 3 replicas on one store: commands/s of 16 clients spread over
            evented servers, catch-up and delivery lag of shared subscriptions;
            floor: the same on one replica
  lifecycle a projection rebuilt from position 0, and read-your-writes;
            floors: one sequential read of the same rows, and the same
            commands without evented-wait-for
  relay     the bus relay publishing one-event books to RabbitMQ (--amqp) and/or
            NATS JetStream (--nats) until every one is confirmed; floor: the
            same books published by the broker's client library alone
  scale     cost against concurrency (1-64 writers), aggregate length and store
            size (up to --scale-events, 10 million by default; takes longer)

Everything listens on 127.0.0.1 only and writes to a temporary directory unless
--dir is given. The default run takes about 5 minutes on 2 cores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scenarios != "" {
				for _, s := range strings.Split(scenarios, ",") {
					if s = strings.TrimSpace(s); s != "" {
						cfg.Scenarios = append(cfg.Scenarios, s)
					}
				}
			}
			cfg.Progress = cmd.ErrOrStderr()
			// Backends log through the default logger; their retries while a
			// server backend is probed would drown the progress lines.
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError})))
			rep, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if err := rep.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if jsonPath != "" {
				if err := rep.WriteJSON(jsonPath); err != nil {
					return fmt.Errorf("write the JSON report: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "JSON report written to %s\n", jsonPath)
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&cfg.Rounds, "rounds", 3, "measurements of each side of each case; the medians are reported")
	f.DurationVar(&cfg.Duration, "duration", 3*time.Second, "measured time of one measurement (a warm-up of a fifth of it comes first)")
	f.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run: "+strings.Join(bench.Scenarios, ", ")+" (default: "+strings.Join(bench.DefaultScenarios, ",")+")")
	f.StringVar(&jsonPath, "json", "", "also write the report as JSON to `FILE`")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the SQLite files (default: a temporary directory, removed at the end)")
	f.StringVar(&cfg.Postgres, "postgres", "", "also run on PostgreSQL at this `URL` (postgres://…)")
	f.StringVar(&cfg.Redis, "redis", "", "also run on Redis at this `URL` (redis://…)")
	f.StringVar(&cfg.AMQP, "amqp", "", "RabbitMQ `URL` (amqp://…) the relay scenario publishes to")
	f.StringVar(&cfg.NATS, "nats", "", "NATS `URL` (nats://…, JetStream enabled) the relay scenario publishes to")
	f.IntVar(&cfg.RelayEvents, "relay-events", 20_000, "events the relay scenario publishes per measurement")
	f.IntVar(&cfg.LoadEvents, "load-events", 100_000, "length of the aggregate of the load scenario")
	f.IntVar(&cfg.CatchUpEvents, "catch-up-events", 100_000, "events replayed by the catch-up of the delivery scenario")
	f.IntVar(&cfg.Rate, "rate", 1000, "events/s of the paced writer of the delivery scenario")
	f.IntVar(&cfg.ScaleEvents, "scale-events", 10_000_000, "size the scale scenario grows the store to")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound of the whole run (default 9m30s, 1h with scale)")
	f.StringVar(&cfg.ProfileDir, "profile", "", "write a CPU profile of every evented measurement to `DIR` (figures of a profiled run are not representative)")
	return c
}
