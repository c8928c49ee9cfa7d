package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/tokens"
)

func (a *App) tokensCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Bearer tokens for the push API (POST /api/stories on digest serve)"}
	cmd.AddCommand(a.tokensCreateCommand(), a.tokensListCommand(), a.tokensRevokeCommand())
	return cmd
}

func (a *App) tokenStore() (*tokens.Store, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &tokens.Store{DB: db, Now: a.now}, nil
}

func (a *App) tokensCreateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME",
		Short: "Make a token and print it once (only its hash is stored)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tokens.CheckName(args[0]); err != nil {
				return usageError{err}
			}
			s, err := a.tokenStore()
			if err != nil {
				return err
			}
			secret, err := s.Create(a.ctx, args[0])
			if err != nil {
				return err
			}
			// The secret goes to stdout alone, so that a script can capture
			// it; the note goes to stderr.
			fmt.Fprintf(a.stderr, "token %s created; it is shown only now: store it in the CMS (Authorization: Bearer TOKEN)\n", args[0])
			a.printf("%s\n", secret)
			return nil
		},
	}
}

func (a *App) tokensListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List tokens by name, with when they were made and last used",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.tokenStore()
			if err != nil {
				return err
			}
			list, err := s.List(a.ctx)
			if err != nil {
				return err
			}
			return printRows(a, asJSON, "NAME\tCREATED\tLAST USED", list, func(t tokens.Token) any { return newTokenJSON(t) },
				func(t tokens.Token) string {
					used := "never"
					if !t.LastUsed.IsZero() {
						used = t.LastUsed.Local().Format("2006-01-02 15:04")
					}
					return t.Name + "\t" + t.Created.Local().Format(time.DateTime[:16]) + "\t" + used
				})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// tokenJSON is a token as tokens list --json prints it: a token never
// used has no last_used_at (the listing's rule: a field without a value
// is left out, never a zero time).
type tokenJSON struct {
	Name     string     `json:"name"`
	Created  time.Time  `json:"created_at"`
	LastUsed *time.Time `json:"last_used_at,omitempty"`
}

func newTokenJSON(t tokens.Token) tokenJSON {
	out := tokenJSON{Name: t.Name, Created: t.Created}
	if !t.LastUsed.IsZero() {
		out.LastUsed = &t.LastUsed
	}
	return out
}

func (a *App) tokensRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Delete a token: requests with it fail at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.tokenStore()
			if err != nil {
				return err
			}
			if err := s.Revoke(a.ctx, args[0]); err != nil {
				return err
			}
			a.printf("revoked token %s\n", args[0])
			return nil
		},
	}
}
