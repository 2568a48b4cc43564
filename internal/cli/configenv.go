package cli

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/config"
)

// legacyEnv are the variables of evented-rs that config.Load honours, by the
// key they set. A test checks that Load reads each of them.
var legacyEnv = map[string]string{
	"STORAGE_PATH":         "storage.path",
	"COMMAND_HANDLER_PORT": "server.command_handler_port",
	"EVENT_QUERY_PORT":     "server.event_query_port",
	"SERVER_HOST":          "server.host",
}

// envVar is one environment variable the binary reads.
type envVar struct{ name, meaning string }

// envVars lists every environment variable evented reads, sorted by name.
func envVars() []envVar {
	// Sources has every leaf key; /dev/null is an empty config file, so
	// neither ./config.yaml nor the environment is consulted.
	_, src, _ := config.Load(os.DevNull, nil)
	vars := []envVar{
		{config.EnvConfig, "the config file (else ./config.yaml if present, else the defaults)"},
		{config.EnvLog, "log level, overriding log.level; also RUST_LOG-style directives (evented=debug)"},
		{config.EnvToken, "the bearer token the client commands send (--token); not read by the server"},
	}
	for key := range src {
		vars = append(vars, envVar{config.EnvName(key), key})
	}
	for name, key := range legacyEnv {
		vars = append(vars, envVar{name, key + " (the evented-rs name; " + config.EnvName(key) + " wins)"})
	}
	slices.SortFunc(vars, func(a, b envVar) int { return cmp.Compare(a.name, b.name) })
	return vars
}

func newConfigEnvCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "List every environment variable evented reads, with what it sets",
		Long: `List every environment variable evented reads, one per line: its name, then the
configuration key it sets. Every key has an EVENTED_ variable (its path
upper-cased, "__" between levels; values are YAML); an EVENTED_ variable that is
not listed here is an error at start-up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, v := range envVars() {
				fmt.Fprintf(tw, "%s\t%s\n", v.name, v.meaning)
			}
			return tw.Flush()
		},
	}
}
