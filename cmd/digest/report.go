package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/report"
)

// reportCommand is `digest editions report ID [--json]`: what happened to
// an edition after the send.
func (a *App) reportCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report ID [--json]",
		Short: "What happened to an edition: deliveries, per relay, bounces, complaints, unsubscribes, clicks per story",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, id, err := byID(args[0], editionID, a.store)
			if err != nil {
				return err
			}
			r, err := report.ForEdition(a.ctx, db, id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, r)
			}
			return a.printReport(r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *App) printReport(r report.Edition) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	u := r.Unsubscribes
	for _, kv := range [][2]string{
		{"edition", fmt.Sprintf("%d (%s, %s)", r.ID, r.List, r.Date)},
		{"subject", r.Subject},
		{"recipients", fmt.Sprint(r.Recipients)},
		{"accepted", fmt.Sprint(r.Accepted)},
		{"failed", fmt.Sprint(r.Failed)},
		{"deferred", fmt.Sprint(r.Deferred)},
		{"unknown", fmt.Sprint(r.Unknown)},
		{"bounced", fmt.Sprintf("%d hard, %d soft", r.BouncedHard, r.BouncedSoft)},
		{"complaints", fmt.Sprint(r.Complaints)},
		{"unsubscribes", fmt.Sprintf("%d one-click, %d link, %d mail, %d complaint", u["one-click"], u["link"], u["mail"], u["complaint"])},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	// Per relay, as digest deliveries prints it, when any delivery went
	// through one (an outbox run has nothing to add).
	if slices.ContainsFunc(r.Relays, func(c delivery.RelayCount) bool { return c.Relay != "" }) {
		fmt.Fprintf(tw, "relays\t%s\n", strings.TrimPrefix(relayCounts(r.Relays), "by relay: "))
	}
	fmt.Fprintln(tw, "\nCLICKS\tSTORY")
	for _, s := range r.Stories {
		fmt.Fprintf(tw, "%d\t%s\n", s.Clicks, s.Title)
	}
	return tw.Flush()
}
