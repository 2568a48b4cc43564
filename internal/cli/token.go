package cli

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/config"
)

// newTokenCmd makes entries of auth.tokens_file.
func newTokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Make bearer tokens for auth.tokens_file",
		Long: `Make bearer tokens for auth.tokens_file. The file holds each token's SHA-256,
never the token: the token is shown once, to give to the client.`,
	}
	var roles, domains []string
	newCmd := &cobra.Command{
		Use:   "new NAME --role ROLE [--role ROLE]... [--domain DOMAIN]...",
		Short: "Make a new random token and print it with its entry for auth.tokens_file",
		Example: `  evented token new billing --role command --role query --domain invoice
  evented token new ops --role admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entry, err := tokenEntry(args[0], roles, domains)
			if err != nil {
				return err
			}
			tok := auth.NewToken()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# The token of %s, shown once: give it to the client (--token, $%s).\n#   %s\n", entry.Name, config.EnvToken, tok)
			fmt.Fprintf(w, "# Its entry in auth.tokens_file (add it under tokens:):\ntokens:\n  - name: %s\n    sha256: %s\n    roles: [%s]\n",
				yamlString(entry.Name), auth.HashToken(tok), strings.Join(entry.Roles, ", "))
			if len(entry.Domains) > 0 {
				quoted := make([]string, len(entry.Domains))
				for i, d := range entry.Domains {
					quoted[i] = yamlString(d)
				}
				fmt.Fprintf(w, "    domains: [%s]\n", strings.Join(quoted, ", "))
			}
			return nil
		},
	}
	newCmd.Flags().StringSliceVar(&roles, "role", nil, "a role of the token: "+strings.Join(config.Roles, ", ")+" (repeatable)")
	newCmd.Flags().StringSliceVar(&domains, "domain", nil, "limit the token to this domain (repeatable; default: every domain)")
	newCmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(config.Roles, cobra.ShellCompDirectiveNoFileComp))

	hashCmd := &cobra.Command{
		Use:   "hash [TOKEN]",
		Short: "Print the SHA-256 of a token (given, or read from standard input) for auth.tokens_file",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok := ""
			if len(args) == 1 && args[0] != "-" {
				tok = args[0]
			} else {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1<<16)).ReadString('\n')
				if err != nil && err != io.EOF {
					return err
				}
				tok = strings.TrimSpace(line)
			}
			if tok == "" {
				return fmt.Errorf("no token: give it as the argument or on standard input")
			}
			fmt.Fprintln(cmd.OutOrStdout(), auth.HashToken(tok))
			return nil
		},
	}
	c.AddCommand(newCmd, hashCmd)
	return c
}

// yamlString writes s as a YAML flow scalar, quoted when needed.
func yamlString(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSpace(string(out))
}

func tokenEntry(name string, roles, domains []string) (auth.TokenEntry, error) {
	if name == "" {
		return auth.TokenEntry{}, fmt.Errorf("the name is empty; name the client, e.g. billing")
	}
	if len(roles) == 0 {
		return auth.TokenEntry{}, fmt.Errorf("no --role: give one or more of %s", strings.Join(config.Roles, ", "))
	}
	for _, r := range roles {
		if !slices.Contains(config.Roles, r) {
			return auth.TokenEntry{}, fmt.Errorf("--role %q: want one of %s", r, strings.Join(config.Roles, ", "))
		}
		if r == auth.RoleAdmin && len(domains) > 0 {
			return auth.TokenEntry{}, fmt.Errorf("--role admin with --domain: admin calls are not about one domain; make a separate admin token")
		}
	}
	return auth.TokenEntry{Name: name, Roles: roles, Domains: domains}, nil
}
