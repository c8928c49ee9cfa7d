package main

import (
	"bufio"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
)

func (a *App) deliveriesCommand() *cobra.Command {
	var listName, status string
	var editionID int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deliveries [--list L] [--edition ID] [--status S] [--json]",
		Short: "Show the delivery ledger: who got which edition, and what the server said",
		Long: `Show the delivery ledger, one row per edition and subscriber, newest edition
first: status (queued, sent, deferred, failed, unknown), attempts, the next attempt for
deferred ones, and the server's last reply. Without filters it shows every
list and edition. --json prints a JSON array for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" && !slices.Contains(delivery.Statuses, status) {
				return usagef("--status %q is not one of %s", status, strings.Join(delivery.Statuses, ", "))
			}
			if cmd.Flags().Changed("edition") && editionID <= 0 {
				return usagef("--edition %d is not an edition id: take one from digest deliveries", editionID)
			}
			f := delivery.Filter{EditionID: editionID, Status: status}
			if listName != "" {
				l, err := a.listOf(listName)
				if err != nil {
					return err
				}
				f.ListID = l.ID
			}
			if editionID != 0 {
				eds, err := a.editions()
				if err != nil {
					return err
				}
				if _, err := eds.GetByID(a.ctx, editionID); errors.Is(err, digest.ErrNoEdition) {
					return fmt.Errorf("no edition %d: see digest editions list", editionID)
				} else if err != nil {
					return err
				}
			}
			if _, err := a.store(); err != nil {
				return err
			}
			if asJSON {
				return a.deliveriesJSON(f)
			}
			return a.deliveriesTable(f)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listName, "list", "", "only this list")
	f.Int64Var(&editionID, "edition", 0, "only this edition (its id)")
	f.StringVar(&status, "status", "", "only this status: queued, sent, deferred, failed or unknown")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// deliveriesTable streams the rows as aligned columns, flushed in blocks
// so a ledger of any size prints in constant memory, then a count per
// status.
func (a *App) deliveriesTable(f delivery.Filter) error {
	out := bufio.NewWriter(a.stdout)
	defer out.Flush()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EDITION\tDATE\tLIST\tEMAIL\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST REPLY")
	counts := map[string]int{}
	n := 0
	err := delivery.EachRecord(a.ctx, a.db, f, func(r delivery.Record) error {
		next := "-"
		if r.NextAttemptAt != nil && r.Status != delivery.StatusSent && r.Status != delivery.StatusFailed {
			next = r.NextAttemptAt.Local().Format(time.DateTime)
		}
		reply := r.LastReply
		if reply == "" {
			reply = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.EditionID, r.Date, r.List, r.Email, r.Status, r.Attempts, next, reply)
		counts[r.Status]++
		if n++; n%500 == 0 {
			tw.Flush()
		}
		return nil
	})
	tw.Flush()
	if err != nil {
		return err
	}
	var parts []string
	for _, s := range delivery.Statuses {
		if counts[s] > 0 {
			parts = append(parts, strconv.Itoa(counts[s])+" "+s)
		}
	}
	if n == 0 {
		fmt.Fprintln(out, "no deliveries match")
		return nil
	}
	fmt.Fprintf(out, "%s: %s\n", plural(n, "delivery"), strings.Join(parts, ", "))
	// Then per relay, when any delivery went through one (a ledger of
	// outbox runs only has nothing to add).
	byRelay, err := delivery.CountByRelay(a.ctx, a.db, f)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(byRelay, func(c delivery.RelayCount) bool { return c.Relay != "" }) {
		fmt.Fprintln(out, relayCounts(byRelay))
	}
	return nil
}

// deliveriesJSON streams the rows as one JSON array.
func (a *App) deliveriesJSON(f delivery.Filter) error {
	out := bufio.NewWriter(a.stdout)
	err := streamJSON(out, func(emit func(any) error) error {
		return delivery.EachRecord(a.ctx, a.db, f, func(r delivery.Record) error { return emit(r) })
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}
