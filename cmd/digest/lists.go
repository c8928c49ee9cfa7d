package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // time zones validate the same on a machine without tzdata

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	sched "github.com/newsroom/digest/schedule"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) listsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "lists", Short: "Create, show, update and delete lists (newsletters)"}
	cmd.AddCommand(a.listsCreateCommand(), a.listsListCommand(), a.listsShowCommand(), a.listsUpdateCommand(), a.listsDeleteCommand(), a.listsFormCommand())
	return cmd
}

// listFlags are the settings create and update share.
type listFlags struct {
	from, address, prefix, sections, schedule, tz, title, language, direction string
	signup, weeklyDay                                                         string
	maxAge                                                                    time.Duration
	feedbackFlags
}

const listFlagsUsage = `--from "Name <addr>" [--address "postal address"] [--subject-prefix TEXT] [--sections a,b,c] [--schedule "CRON"] [--tz Area/City] [--title T] [--language L] [--direction ltr|rtl] [--signup open|closed] [--weekly-day mon] [--max-age DURATION]`

func (lf *listFlags) register(f *pflag.FlagSet) {
	f.StringVar(&lf.from, "from", "", `sender, "Name <address@example.com>"`)
	f.StringVar(&lf.address, "address", "", "postal address for the footer")
	f.StringVar(&lf.prefix, "subject-prefix", "", "text before every subject, e.g. [Daily]")
	f.StringVar(&lf.sections, "sections", "", "comma-separated sections to include (default: all)")
	f.StringVar(&lf.schedule, "schedule", "", `five-field cron expression or @daily-style descriptor; no @every intervals (default "`+subscribers.DefaultSchedule+`")`)
	f.StringVar(&lf.tz, "tz", "", "IANA time zone of the schedule and dates, e.g. Europe/Paris (default UTC)")
	f.StringVar(&lf.title, "title", "", "title in subjects and headers (default: the name)")
	f.StringVar(&lf.language, "language", "", "BCP 47 language of the edition, e.g. en, ar (default en)")
	f.StringVar(&lf.direction, "direction", "", "text direction, ltr or rtl (default: from the language)")
	f.StringVar(&lf.signup, "signup", "", "public sign-up at /subscribe/NAME: open or closed (default open)")
	f.StringVar(&lf.weeklyDay, "weekly-day", "", "day weekly readers get the week's edition: mon, tue, ... (default mon)")
	lf.feedbackFlags.register(f)
	f.DurationVar(&lf.maxAge, "max-age", subscribers.DefaultMaxAge, "how long a story no edition took stays eligible, from the later of its publication and storing (e.g. 48h)")
}

// anyChanged tells whether any setting was given.
func (lf *listFlags) anyChanged(f *pflag.FlagSet) bool {
	for _, name := range append([]string{"from", "address", "subject-prefix", "sections", "schedule", "tz", "title", "language", "direction", "signup", "weekly-day", "max-age"}, feedbackFlagNames...) {
		if f.Changed(name) {
			return true
		}
	}
	return false
}

// apply copies the flags that were given onto l. A new language without
// a --direction lets the direction follow the language.
// settle applies the flags given to l and checks the list that results;
// a bad setting is a usage error.
func (lf *listFlags) settle(f *pflag.FlagSet, l *subscribers.List) error {
	if err := lf.apply(f, l); err != nil {
		return err
	}
	if err := subscribers.NormalizeList(l); err != nil {
		return usageError{err}
	}
	return nil
}

func (lf *listFlags) apply(f *pflag.FlagSet, l *subscribers.List) error {
	set := func(name string, dst *string, v string) {
		if f.Changed(name) {
			*dst = v
		}
	}
	set("from", &l.From, lf.from)
	set("address", &l.PostalAddress, lf.address)
	set("subject-prefix", &l.SubjectPrefix, lf.prefix)
	set("schedule", &l.Schedule, lf.schedule)
	set("tz", &l.TimeZone, lf.tz)
	set("title", &l.Title, lf.title)
	set("language", &l.Language, lf.language)
	if f.Changed("language") && !f.Changed("direction") {
		l.Direction = ""
	}
	set("direction", &l.Direction, lf.direction)
	lf.feedbackFlags.apply(f, l)
	if f.Changed("sections") {
		l.Sections = subscribers.ParseSections(lf.sections)
	}
	set("signup", &l.Signup, lf.signup)
	if f.Changed("weekly-day") {
		d, err := subscribers.ParseWeekday(lf.weeklyDay)
		if err != nil {
			return usageError{fmt.Errorf("--weekly-day: %w", err)}
		}
		l.WeeklyDay = d
	}
	if f.Changed("max-age") {
		l.MaxAge = subscribers.Duration(lf.maxAge)
		if lf.maxAge <= 0 {
			l.MaxAge = -1 // refused by NormalizeList, not taken as "default"
		}
	}
	return nil
}

func (a *App) listsCreateCommand() *cobra.Command {
	var lf listFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME " + listFlagsUsage + " [--json]",
		Short: "Create a list",
		Long: `Create a list. NAME is lower-case letters, digits, - and _; it appears in
unsubscribe links and cannot change later. --from is required. The schedule is a
five-field cron expression (minute hour day-of-month month day-of-week) or a
descriptor like @daily, read in the list's time zone; the daemon sends one
edition per local date, at the date's first fire. Intervals (@every 5m) are
refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("from") {
				return usagef(`lists create %s: --from is required, like --from "The Daily <daily@example.com>"`, args[0])
			}
			l := subscribers.List{Name: args[0], WeeklyDay: time.Monday}
			if err := lf.settle(cmd.Flags(), &l); err != nil {
				return err
			}
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			if l, err = s.CreateList(a.ctx, l); err != nil {
				return err
			}
			return a.listDone(asJSON, "created", subscribers.ListCounts{List: l})
		},
	}
	lf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON (as lists show --json)")
	return cmd
}

func (a *App) listsUpdateCommand() *cobra.Command {
	var lf listFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update NAME [" + listFlagsUsage + "] [--json]",
		Short: "Change a list's settings (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !lf.anyChanged(cmd.Flags()) {
				return usagef("lists update %s: nothing to change: give at least one setting, like --title or --schedule", args[0])
			}
			s, l, err := a.listStore(args[0])
			if err != nil {
				return err
			}
			if err := lf.settle(cmd.Flags(), &l); err != nil {
				return err
			}
			if l, err = s.UpdateList(a.ctx, l); err != nil {
				return err
			}
			c, err := s.CountMembers(a.ctx, l.ID)
			if err != nil {
				return err
			}
			return a.listDone(asJSON, "updated", subscribers.ListCounts{List: l, Subscribers: c})
		},
	}
	lf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON (as lists show --json)")
	return cmd
}

func (a *App) listsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the lists with their subscriber counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.subscribers()
			if err != nil {
				return err
			}
			return printListing(a, asJSON, "NAME\tTITLE\tFROM\tSCHEDULE\tTIME ZONE\tACTIVE\tUNSUBSCRIBED\tBOUNCED",
				func(fn func(listRow) error) error {
					return s.Lists(a.ctx, func(lc subscribers.ListCounts) error { return fn(newListRow(lc)) })
				},
				func(lc listRow) string {
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d", lc.Name, lc.DisplayTitle(), lc.From, lc.Schedule, lc.TimeZone,
						lc.Subscribers.Active, lc.Subscribers.Unsubscribed, lc.Subscribers.Bounced)
				})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *App) listsShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME [--json]",
		Short: "Show a list's settings and its subscriber counts by status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, l, err := a.listStore(args[0])
			if err != nil {
				return err
			}
			c, err := s.CountMembers(a.ctx, l.ID)
			if err != nil {
				return err
			}
			lc := subscribers.ListCounts{List: l, Subscribers: c}
			if asJSON {
				return writeJSON(a.stdout, a.listJSON(lc))
			}
			return a.printList(lc)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// listDone reports a created or updated list: a line and the settings,
// or with --json the document lists show --json prints.
func (a *App) listDone(asJSON bool, verb string, lc subscribers.ListCounts) error {
	if asJSON {
		out := a.jsonOutput()
		a.noteUnknownSections(lc.List)
		return writeJSON(out, a.listJSON(lc))
	}
	a.printf("list %s %s\n", lc.Name, verb)
	a.noteUnknownSections(lc.List)
	return a.printList(lc)
}

// listRow is a list as lists list --json prints it: the weekly day
// as --weekly-day takes it ("mon"), not time.Weekday's number. The
// field is shallower than the embedded List's, so encoding/json takes
// it in place of that one.
type listRow struct {
	subscribers.ListCounts
	WeeklyDay string `json:"weekly_day"`
}

func newListRow(lc subscribers.ListCounts) listRow {
	if lc.Sections == nil {
		lc.Sections = []string{} // [] (all sections), never null
	}
	return listRow{ListCounts: lc, WeeklyDay: subscribers.FormatWeekday(lc.WeeklyDay)}
}

// listJSON is lists show --json: the settings, counts and next run.
type listJSON struct {
	listRow
	NextRun *time.Time `json:"next_run,omitempty"`
}

func (a *App) listJSON(lc subscribers.ListCounts) listJSON {
	return listJSON{listRow: newListRow(lc), NextRun: nextRun(lc.List, a.now())}
}

func nextRun(l subscribers.List, now time.Time) *time.Time {
	if t, ok := l.NextRun(now); ok {
		return &t
	}
	return nil
}

func (a *App) printList(lc subscribers.ListCounts) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	orNone := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	sections := "(all)"
	if len(lc.Sections) > 0 {
		sections = strings.Join(lc.Sections, ", ")
	}
	schedule := lc.Schedule
	if t := nextRun(lc.List, a.now()); t != nil {
		schedule += "  (next: " + t.Format("Mon 2006-01-02 15:04 MST") + ")"
	} else if _, err := sched.Parse(lc.Schedule, lc.TimeZone); err != nil {
		// Stored before the check was as strict as the daemon.
		schedule += "  (the daemon does not run it: " + err.Error() + ")"
	}
	c := lc.Subscribers
	for _, kv := range [][2]string{
		{"name", lc.Name},
		{"title", lc.DisplayTitle()},
		{"from", lc.From},
		{"postal address", orNone(lc.PostalAddress)},
		{"subject prefix", orNone(lc.SubjectPrefix)},
		{"sections", sections},
		{"schedule", schedule},
		{"time zone", lc.TimeZone},
		{"language", lc.Language + " (" + lc.Direction + ")"},
		{"bounce address", orNone(lc.BounceAddress)},
		{"click tracking", fmt.Sprintf("%s (rank by clicks: %v)", lc.ClickTracking, lc.RankByClicks)},
		{"max age", time.Duration(lc.MaxAge).String() + " (stories no edition took stay eligible this long)"},
		{"signup", signupLine(lc.List)},
		{"weekly day", subscribers.FormatWeekday(lc.WeeklyDay) + " (weekly readers get the week's top stories then, at the scheduled time)"},
		{"subscribers", fmt.Sprintf("%d active, %d unsubscribed, %d bounced (%d in all)", c.Active, c.Unsubscribed, c.Bounced, c.Total())},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// signupLine says whether the list takes public sign-ups, and where.
func signupLine(l subscribers.List) string {
	if l.Signup == subscribers.SignupClosed {
		return "closed (/subscribe/" + l.Name + " answers 404)"
	}
	return "open (form at /subscribe/" + l.Name + ")"
}

func (a *App) listsDeleteCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME [--force]",
		Short: "Delete a list with its editions (refused while it has subscribers, unless --force)",
		Long: `Delete a list together with its editions and their delivery records. While the
list has members (active, unsubscribed or bounced) the command refuses unless
--force is given. The subscribers themselves are kept: they may be on other lists;
use digest subscribers remove to erase a person.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The editions go with the list (the foreign keys cascade):
			// count them, through their owner, just before.
			s, l, err := a.listStore(args[0])
			if err != nil {
				return err
			}
			eds, err := a.editions()
			if err != nil {
				return err
			}
			editions, err := eds.CountForList(a.ctx, l.ID)
			if err != nil {
				return err
			}
			d, err := s.DeleteList(a.ctx, args[0], force)
			if err != nil {
				return err
			}
			d.Editions = editions
			a.printf("list %s deleted with %s and %s\n", args[0], plural(d.Memberships, "membership"), plural(d.Editions, "edition"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even though the list has subscribers")
	return cmd
}

// noteUnknownSections warns about sections no story has used yet: a
// typo there would silently leave a list's editions empty.
func (a *App) noteUnknownSections(l subscribers.List) {
	if len(l.Sections) == 0 {
		return
	}
	st, err := a.stories()
	if err != nil {
		return
	}
	known, err := st.Sections(a.ctx)
	if err != nil {
		return
	}
	names := map[string]bool{}
	for _, s := range known {
		names[strings.ToLower(s.Name)] = true
	}
	for _, s := range l.Sections {
		if !names[strings.ToLower(s)] {
			fmt.Fprintf(a.stderr, "note: no section is called %q yet; the list includes it once stories use it\n", s)
		}
	}
}

// jsonOutput serves a command's --json: it returns the writer for the
// one JSON document and sends the lines meant for a person to standard
// error from then on, so that standard output parses whole.
func (a *App) jsonOutput() io.Writer {
	out := a.stdout
	a.stdout = a.stderr
	return out
}

// writeJSON prints one value as indented JSON: the form of every
// summary and every single object digest prints.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
