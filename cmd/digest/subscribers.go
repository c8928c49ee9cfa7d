package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) subscribersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "subscribers", Short: "Manage subscribers: add, import, export, list, unsubscribe, erase"}
	cmd.AddCommand(a.subscribersAddCommand(), a.subscribersRemoveCommand(),
		a.subscribersStatusCommand("unsubscribe"), a.subscribersStatusCommand("resubscribe"),
		a.subscribersShowCommand(), a.subscribersListCommand(), a.subscribersCountCommand(),
		a.subscribersImportCommand(), a.subscribersExportCommand())
	return cmd
}

// address checks an EMAIL argument: a malformed one is a usage error.
func address(arg string) (string, error) {
	addr, err := subscribers.NormalizeAddress(arg)
	if err != nil {
		return "", usageError{err}
	}
	return addr, nil
}

// byAddress is the setup of every command that acts on one address:
// check it (a usage error when it is no address), then open the store.
func (a *App) byAddress(arg string) (*subscribers.Store, string, error) {
	addr, err := address(arg)
	if err != nil {
		return nil, "", err
	}
	s, err := a.subscribers()
	return s, addr, err
}

func (a *App) subscribersAddCommand() *cobra.Command {
	var name string
	var confirm bool
	var lists []string
	cmd := &cobra.Command{
		Use:   "add EMAIL [--name N] [--list L ...] [--confirm]",
		Short: "Add a subscriber to one or more lists (default: daily)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := address(args[0])
			if err != nil {
				return err
			}
			if confirm {
				// The normalised address: the mail goes where the
				// sign-up is stored.
				return a.addByConfirmation(addr, name, lists)
			}
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			// What they were on before tells what the add changed.
			before := map[string]string{}
			d, err := s.Show(a.ctx, args[0])
			switch {
			case err == nil:
				for _, m := range d.Memberships {
					before[m.List] = m.Status
				}
			case !errors.Is(err, subscribers.ErrUnknownSubscriber):
				return err
			}
			sub, err := s.Add(a.ctx, args[0], name, lists...)
			if err != nil {
				return err
			}
			var added, already []string
			for _, l := range lists {
				switch status, ok := before[l]; {
				case !ok:
					added = append(added, l)
				case status == subscribers.StatusActive:
					already = append(already, l)
				default:
					// Adding is not consent again.
					a.printf("%s is %s on %s and stays so; if they asked to come back: digest subscribers resubscribe %s --list %s\n", sub.Email, status, l, sub.Email, l)
				}
			}
			if len(added) > 0 {
				what := "subscriber"
				if d.ID != 0 {
					what = "existing subscriber"
				}
				a.printf("%s %s added to %s\n", what, sub.Email, strings.Join(added, ", "))
			}
			if len(already) > 0 {
				a.printf("%s is already on %s\n", sub.Email, strings.Join(already, ", "))
			}
			if d.ID != 0 && sub.Name != d.Name {
				a.printf("name of %s set to %q\n", sub.Email, sub.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringArrayVar(&lists, "list", []string{subscribers.DefaultList}, "list to join (repeatable)")
	cmd.Flags().BoolVar(&confirm, "confirm", false, "send a confirmation mail instead of activating (for addresses whose consent is not on record)")
	return cmd
}

func (a *App) subscribersRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Erase a subscriber: the person, their memberships and delivery history",
		Long: `Erase a subscriber from the database, as a data-protection erasure request asks:
the person, their memberships of every list and their delivery history. Freed
database pages are overwritten. This cannot be undone; to stop mail but keep the
record of the opt-out, use unsubscribe. Files outside the database (an .eml
outbox) are not touched.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, err := a.byAddress(args[0])
			if err != nil {
				return err
			}
			// The ledger rows go with the person (the foreign keys
			// cascade): count them, through their owner, just before.
			// One who never confirmed is no subscriber: Remove erases
			// their pending sign-ups alone (no deliveries to count).
			var deliveries int64
			sub, err := s.Get(a.ctx, args[0])
			if err == nil {
				deliveries, err = delivery.CountForSubscriber(a.ctx, s.DB, sub.ID)
			}
			if err != nil && !errors.Is(err, subscribers.ErrUnknownSubscriber) {
				return err
			}
			e, err := s.Remove(a.ctx, args[0])
			if err != nil {
				return err
			}
			e.Deliveries = deliveries
			if sub.ID == 0 {
				a.printf("removed %s: erased %s\n", e.Email, plural(e.Signups, "pending sign-up"))
				return nil
			}
			a.printf("removed %s: erased %s and %s\n", e.Email, plural(e.Memberships, "membership"), plural(e.Deliveries, "delivery"))
			return nil
		},
	}
}

// subscribersStatusCommand builds unsubscribe and resubscribe, which
// differ only in the status they set.
func (a *App) subscribersStatusCommand(verb string) *cobra.Command {
	var lists []string
	short := "Unsubscribe someone from a list, or from every list they are on"
	set := (*subscribers.Store).Unsubscribe
	if verb == "resubscribe" {
		short = "Make an unsubscribed or bounced membership active again (only with the person's consent)"
		set = (*subscribers.Store).Resubscribe
	}
	cmd := &cobra.Command{
		Use:   verb + " EMAIL [--list L ...]",
		Short: short,
		Long:  short + ".\nWithout --list the command acts on every list the person is on. The membership\nand its history are kept; use remove to erase a person.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, addr, err := a.byAddress(args[0])
			if err != nil {
				return err
			}
			sub, err := s.Get(a.ctx, addr)
			if err != nil {
				return err
			}
			addr = sub.Email // as stored
			targets := lists
			if len(targets) == 0 {
				targets = []string{""}
			}
			var changed []string
			for _, l := range targets {
				c, err := set(s, a.ctx, addr, l)
				if err != nil {
					return err
				}
				changed = append(changed, c...)
			}
			past := verb + "d"
			if len(changed) == 0 {
				where := "any of their lists"
				if len(lists) > 0 {
					where = strings.Join(lists, ", ")
				}
				a.printf("%s: nothing to do, already %s on %s\n", addr, past, where)
				return nil
			}
			a.printf("%s %s: %s\n", addr, past, strings.Join(changed, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&lists, "list", nil, "list (repeatable; default: every list they are on)")
	return cmd
}

// recentDeliveries is how many deliveries show lists.
const recentDeliveries = 10

func (a *App) subscribersShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show EMAIL [--json]",
		Short: "Show a subscriber: memberships, statuses and recent deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, err := a.byAddress(args[0])
			if err != nil {
				return err
			}
			d, err := s.Show(a.ctx, args[0])
			if err != nil {
				return err
			}
			if d.Deliveries, err = delivery.SubscriberDeliveries(a.ctx, s.DB, d.ID, recentDeliveries); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			a.printShow(d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

const timeLayout = "2006-01-02 15:04 MST"

// printShow prints a subscriber's details, then two tables: memberships
// and recent deliveries.
func (a *App) printShow(d subscribers.Details) {
	table := func(header string, rows [][]string, empty string) {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if len(rows) == 0 {
			fmt.Fprintln(tw, empty)
		}
		tw.Flush()
	}
	table("email\t"+d.Email, [][]string{
		{"name", d.Name},
		{"attributes", string(d.Attributes)},
		{"created", d.CreatedAt.Format(timeLayout)},
		{"updated", d.UpdatedAt.Format(timeLayout)},
	}, "")
	var ms, ds [][]string
	for _, m := range d.Memberships {
		ms = append(ms, []string{m.List, m.Status, m.Since.Format(timeLayout)})
	}
	for _, r := range d.Deliveries {
		ds = append(ds, []string{r.Date, r.List, r.Status, fmt.Sprint(r.Attempts), r.UpdatedAt.Format(timeLayout), oneLine(r.Reply)})
	}
	a.printf("\n")
	table("LIST\tSTATUS\tSINCE", ms, "(on no list)")
	a.printf("\nrecent deliveries:\n")
	table("DATE\tLIST\tSTATUS\tATTEMPTS\tUPDATED\tREPLY", ds, "(none)")
	a.printf("\nconsent records:\n")
	table("AT\tLIST\tACTION\tSOURCE\tCONSENT\tIP\tDETAIL", consentRows(d.Consent), "(none)")
}

// tablePage is how many rows a long table aligns at a time: tabwriter
// holds rows until it is flushed, and a listing must not hold them all.
const tablePage = 500

func (a *App) subscribersListCommand() *cobra.Command {
	var f subscribers.Filter
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--list L] [--status active|unsubscribed|bounced|pending] [--json]",
		Short: "List subscribers with their memberships (default: every list)",
		Long: `List subscribers, one line per membership, in the order they were added. Without
--list every list is shown, and people on no list appear once with an empty list.
The output streams: a list of any size prints in constant memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Status == subscribers.StatusPending {
				return a.listPending(cmd.Flags().Changed("list"), f.List, asJSON)
			}
			if f.Status != "" && !subscribers.ValidStatus(f.Status) {
				return usagef("--status %q: use active, unsubscribed or bounced (or pending for sign-ups awaiting confirmation)", f.Status)
			}
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(a.stdout, 64<<10)
			if asJSON {
				err = streamJSON(w, func(emit func(any) error) error {
					return s.EachMember(a.ctx, f, func(m subscribers.Member) error { return emit(m) })
				})
			} else {
				err = a.memberTable(w, s, f)
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&f.List, "list", "", "only this list")
	cmd.Flags().StringVar(&f.Status, "status", "", "only this status: active, unsubscribed or bounced (or pending: sign-ups awaiting confirmation)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, streamed")
	return cmd
}

// memberTable prints a listing as a table, aligned a page at a time.
func (a *App) memberTable(w io.Writer, s *subscribers.Store, f subscribers.Filter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	const header = "ID\tEMAIL\tNAME\tLIST\tSTATUS\tSINCE\n"
	fmt.Fprint(tw, header)
	n := 0
	err := s.EachMember(a.ctx, f, func(m subscribers.Member) error {
		since := ""
		if !m.Since.IsZero() {
			since = m.Since.Format("2006-01-02")
		}
		if n++; n%tablePage == 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Email, m.Name, m.List, m.Status, since)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

func (a *App) subscribersCountCommand() *cobra.Command {
	var list string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "count [--list L] [--json]",
		Short: "Count subscribers by status, per list (default: every list)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			t, err := s.Count(a.ctx, list)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, t)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "LIST\tACTIVE\tUNSUBSCRIBED\tBOUNCED\tTOTAL\t")
			for _, l := range t.Lists {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", l.List, l.Active, l.Unsubscribed, l.Bounced, l.Total)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if list == "" {
				a.printf("%s in all\n", plural(t.People, "subscriber"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&list, "list", "", "only this list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *App) subscribersImportCommand() *cobra.Command {
	opt := subscribers.ImportOptions{}
	var verbose, asJSON, confirmImport bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv [--list L] [--dry-run] [--resubscribe] [--confirm]",
		Short: "Import subscribers from CSV into a list",
		Long: `Import subscribers from a CSV file (- reads standard input) into a list.

The first line names the columns: email (required), name, status (active,
unsubscribed or bounced; default active); every other column is kept as an
attribute. UTF-8 with or without a BOM; comma, semicolon or tab separated (taken
from the header line). Addresses are validated and normalised; rows with a bad
address are rejected and reported with their line number. Addresses are merged
case-insensitively with the store and with earlier rows of the file. Someone who
unsubscribed or bounced is skipped unless --resubscribe is given.

The file is read as a stream and committed every --batch rows: after an
interruption (Ctrl-C) the store holds whole rows only, and running the same
import again finishes it without duplicates. --dry-run does everything in one
transaction and rolls it back: nothing is written, and the counts are those a
real import would give.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.BatchSize < 1 {
				return usagef("--batch %d: give a number of rows of at least 1", opt.BatchSize)
			}
			in, closeIn, err := a.openInput(args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			reported := 0
			opt.Report = func(r subscribers.RowReport) {
				if r.Kind == subscribers.RowRejected || verbose {
					reported++
					fmt.Fprintf(a.stderr, "line %d: %s: %s\n", r.Line, r.Kind, oneLine(r.Reason))
				}
			}
			var confirmed *confirmBatch
			if confirmImport {
				if confirmed, err = a.newConfirmBatch(opt.List); err != nil {
					return err
				}
				opt.Confirm = confirmed.add
			}
			sum, err := s.Import(a.ctx, bufio.NewReaderSize(in, 64<<10), opt)
			if confirmed != nil {
				a.printf("%s\n", confirmed.summary())
			}
			if err != nil {
				return importError(args[0], sum, err)
			}
			if asJSON {
				return writeJSON(a.stdout, sum)
			}
			if opt.DryRun {
				a.printf("dry run, nothing written: importing %s into %s would give\n", args[0], sum.List)
			} else {
				a.printf("imported %s into %s\n", args[0], sum.List)
			}
			a.printf("%s\n", counts(sum))
			if sum.Duplicates > 0 {
				if sum.Duplicates == 1 {
					a.printf("1 row repeated an earlier address of the file and was merged into it\n")
				} else {
					a.printf("%d rows repeated an earlier address of the file and were merged into it\n", sum.Duplicates)
				}
			}
			if sum.Rejected > 0 && reported > 0 {
				a.printf("the rejected rows are listed on standard error, with their line numbers\n")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.List, "list", subscribers.DefaultList, "list to import into")
	f.BoolVar(&opt.DryRun, "dry-run", false, "check and count, write nothing")
	f.BoolVar(&opt.Resubscribe, "resubscribe", false, "re-activate people who unsubscribed or bounced (only with their consent)")
	f.BoolVar(&confirmImport, "confirm", false, "send each address not yet active a confirmation mail instead of activating it (same limits as the public sign-up)")
	f.IntVar(&opt.BatchSize, "batch", subscribers.DefaultBatchSize, "rows per transaction")
	f.BoolVarP(&verbose, "verbose", "v", false, "also report skipped and duplicate rows on standard error")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

func counts(s subscribers.ImportSummary) string {
	return fmt.Sprintf("added %d, updated %d, unchanged %d, skipped %d, rejected %d", s.Added, s.Updated, s.Unchanged, s.Skipped, s.Rejected)
}

// importError says what an import that stopped left behind.
func importError(file string, sum subscribers.ImportSummary, err error) error {
	switch {
	case errors.Is(err, subscribers.ErrBadCSV), errors.Is(err, subscribers.ErrUnknownList):
		return fmt.Errorf("import %s: %w; nothing was written", file, err)
	case sum.DryRun:
		return fmt.Errorf("import %s (dry run): %w; nothing was written", file, err)
	}
	done := "no rows were committed"
	if sum.LastLine > 0 {
		done = fmt.Sprintf("rows through line %d are committed (%s)", sum.LastLine, counts(sum))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("import %s interrupted: %s; run the same import again to finish it", file, done)
	}
	return fmt.Errorf("import %s: %w; %s; fix the file and run the import again to finish it", file, err, done)
}

func (a *App) subscribersExportCommand() *cobra.Command {
	var f subscribers.Filter
	var consent bool
	cmd := &cobra.Command{
		Use:   "export [--list L] [--status S] | --consent",
		Short: "Write a list's subscribers as CSV to standard output",
		Long: `Write the members of a list (default daily) as CSV to standard output: the
columns email, name, status, then one column per attribute name in byte order.
Without --status every member is written, unsubscribed and bounced ones too, so
that an import elsewhere keeps their opt-out. import reads the file back
unchanged. The rows stream from the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if consent {
				if cmd.Flags().Changed("list") || cmd.Flags().Changed("status") {
					return usagef("--consent writes every consent record: it takes no --list or --status")
				}
				s, err := a.subscribers()
				if err != nil {
					return err
				}
				_, err = s.ExportConsent(a.ctx, a.stdout)
				return err
			}
			if f.Status != "" && !subscribers.ValidStatus(f.Status) {
				return usagef("--status %q: use active, unsubscribed or bounced", f.Status)
			}
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			_, err = s.Export(a.ctx, a.stdout, f)
			return err
		},
	}
	cmd.Flags().BoolVar(&consent, "consent", false, "write the consent records instead (email, list, at, action, source, consent_version, detail, ip, user_agent)")
	cmd.Flags().StringVar(&f.List, "list", subscribers.DefaultList, "list to export")
	cmd.Flags().StringVar(&f.Status, "status", "", "only this status: active, unsubscribed or bounced")
	return cmd
}
