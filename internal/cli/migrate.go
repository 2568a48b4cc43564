package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/server"
)

func newMigrateCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the configured store's schema up to date and print its version",
		Long: `Open the configured storage, which applies any schema migrations it is missing
(the server does the same when it starts), print the schema version, and close it.
Safe to run while a server uses the same SQLite file: each migration step takes the
write lock and runs once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfg, _, err := load()
			if err != nil {
				return err
			}
			store, err := server.OpenStorage(cmd.Context(), cfg.Storage)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, store.Close()) }()
			where := cfg.Storage.Type
			if p, ok := store.(interface{ Path() string }); ok {
				where += " at " + p.Path()
			}
			w := cmd.OutOrStdout()
			if v, ok := store.(interface{ Version() int }); ok {
				fmt.Fprintf(w, "%s: schema version %d, up to date\n", where, v.Version())
			} else {
				fmt.Fprintf(w, "%s: no schema to migrate\n", where)
			}
			return nil
		},
	}
}
