package main

import (
	"errors"
	"fmt"
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
			n := 0
			err = printListing(a, asJSON, "EMAIL\tREASON\tSINCE\tNOTE", func(yield func(subscribers.Suppression) error) error {
				return subs.Suppressions(a.ctx, func(x subscribers.Suppression) error { n++; return yield(x) })
			}, func(x subscribers.Suppression) string {
				return x.Email + "\t" + x.Reason + "\t" + x.CreatedAt.Format(time.DateOnly) + "\t" + oneLine(x.Note)
			})
			if err != nil || asJSON {
				return err
			}
			a.printf("%d suppressed\n", n)
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	var reason, note string
	var addJSON, removeJSON, importJSON bool
	add := &cobra.Command{
		Use: "add EMAIL [--reason manual|legal|complaint|hard-bounce] [--note TEXT] [--json]", Short: "Never mail this address again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, err := a.subscribers()
			if err != nil {
				return err
			}
			if !subscribers.ValidSuppressReason(reason) {
				return usagef("reason %q: use manual, legal, complaint or hard-bounce", reason)
			}
			// Only the address is the caller's mistake; a store that
			// fails the write is a runtime error (exit 1).
			if _, err := subscribers.NormalizeAddress(args[0]); err != nil {
				return usageError{err}
			}
			added, err := subs.Suppress(a.ctx, args[0], reason, note)
			if err != nil {
				return err
			}
			return a.summary(addJSON, func() any {
				return map[string]any{"email": args[0], "reason": reason, "added": added}
			}, func() {
				if added {
					a.printf("suppressed %s: no send will mail it\n", args[0])
				} else {
					a.printf("%s was already suppressed: nothing to do\n", args[0])
				}
			})
		},
	}
	add.Flags().BoolVar(&addJSON, "json", false, `print {"email", "reason", "added"} ("added": false when it was already suppressed)`)
	add.Flags().StringVar(&reason, "reason", subscribers.SuppressManual, "why: manual, legal, complaint or hard-bounce")
	add.Flags().StringVar(&note, "note", "", "a note for the record (one line)")
	remove := &cobra.Command{
		Use: "remove EMAIL [--json]", Short: "Allow mail to the address again (memberships stay as they are)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, _, err := a.byAddress(args[0])
			if err != nil {
				return err
			}
			removed, err := subs.Unsuppress(a.ctx, args[0])
			if err != nil {
				return err
			}
			if !removed {
				return fmt.Errorf("%s is not suppressed: digest suppressions list shows who is", args[0])
			}
			return a.summary(removeJSON, func() any { return map[string]any{"email": args[0], "removed": true} }, func() {
				a.printf("%s is no longer suppressed; a bounced or unsubscribed membership stays so until digest subscribers resubscribe\n", args[0])
			})
		},
	}
	remove.Flags().BoolVar(&removeJSON, "json", false, `print {"email", "removed": true}`)
	var importReason string
	imp := &cobra.Command{
		Use: "import FILE [--reason R] [--json]", Short: "Suppress every address of a file (one per line, or the first CSV column); - reads stdin", Args: cobra.ExactArgs(1),
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
			return a.summary(importJSON, func() any {
				return struct {
					File string `json:"file"`
					subscribers.SuppressionImport
				}{args[0], sum}
			}, func() {
				a.printf("added %d, already suppressed %d, rejected %d\n", sum.Added, sum.Already, sum.Rejected)
			})
		},
	}
	imp.Flags().BoolVar(&importJSON, "json", false, "print the summary as JSON (file, added, already, rejected)")
	imp.Flags().StringVar(&importReason, "reason", subscribers.SuppressImport, "why: import, legal, manual, complaint or hard-bounce")
	cmd.AddCommand(list, add, remove, imp)
	return cmd
}
