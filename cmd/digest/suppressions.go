package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/subscribers"
)

func (a *App) suppressionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "suppressions", Short: "Addresses that must never be mailed (complaints, hard bounces, legal requests)"}
	var asJSON bool
	list := &cobra.Command{
		Use: "list [--json]", Short: "List suppressed addresses, oldest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			subs, err := a.subscribers()
			if err != nil {
				return err
			}
			var all []subscribers.Suppression
			if err := subs.Suppressions(a.ctx, func(x subscribers.Suppression) error { all = append(all, x); return nil }); err != nil {
				return err
			}
			if asJSON {
				if all == nil {
					all = []subscribers.Suppression{}
				}
				return writeJSON(a.stdout, all)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tREASON\tSINCE\tNOTE")
			for _, x := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Email, x.Reason, x.CreatedAt.Format(time.DateOnly), x.Note)
			}
			tw.Flush()
			a.printf("%d suppressed\n", len(all))
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	var reason, note string
	add := &cobra.Command{
		Use: "add EMAIL [--reason manual|legal|complaint|hard-bounce] [--note TEXT]", Short: "Never mail this address again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, err := a.subscribers()
			if err != nil {
				return err
			}
			if !subscribers.ValidSuppressReason(reason) {
				return usagef("reason %q: use manual, legal, complaint or hard-bounce", reason)
			}
			added, err := subs.Suppress(a.ctx, args[0], reason, note)
			if err != nil {
				return usageError{err}
			}
			if added {
				a.printf("suppressed %s: no send will mail it\n", args[0])
			} else {
				a.printf("%s was already suppressed: nothing to do\n", args[0])
			}
			return nil
		},
	}
	add.Flags().StringVar(&reason, "reason", subscribers.SuppressManual, "why: manual, legal, complaint or hard-bounce")
	add.Flags().StringVar(&note, "note", "", "a note for the record (one line)")
	remove := &cobra.Command{
		Use: "remove EMAIL", Short: "Allow mail to the address again (memberships stay as they are)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, err := a.subscribers()
			if err != nil {
				return err
			}
			removed, err := subs.Unsuppress(a.ctx, args[0])
			if err != nil {
				return usageError{err}
			}
			if !removed {
				return fmt.Errorf("%s is not suppressed: digest suppressions list shows who is", args[0])
			}
			a.printf("%s is no longer suppressed; a bounced or unsubscribed membership stays so until digest subscribers resubscribe\n", args[0])
			return nil
		},
	}
	var importReason string
	imp := &cobra.Command{
		Use: "import FILE [--reason R]", Short: "Suppress every address of a file (one per line, or the first CSV column); - reads stdin", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, err := a.subscribers()
			if err != nil {
				return err
			}
			in, closeIn, err := a.openInput(args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			sum, err := subs.ImportSuppressions(a.ctx, in, importReason, func(line int, why string) {
				fmt.Fprintf(a.stderr, "line %d: rejected: %s\n", line, why)
			})
			if err != nil {
				if errors.Is(err, subscribers.ErrSuppressed) {
					return err
				}
				return fmt.Errorf("%w; nothing was written", err)
			}
			a.printf("added %d, already suppressed %d, rejected %d\n", sum.Added, sum.Already, sum.Rejected)
			return nil
		},
	}
	imp.Flags().StringVar(&importReason, "reason", subscribers.SuppressImport, "why: import, legal, manual, complaint or hard-bounce")
	cmd.AddCommand(list, add, remove, imp)
	return cmd
}
