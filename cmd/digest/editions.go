package main

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

func (a *App) editionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "editions",
		Short: "List, show, rebuild and discard stored editions",
		Long: `Stored editions are what send delivers, exactly as built. An edition nobody
has been sent yet (every delivery failed, or none was made) can be rebuilt with
the stories eligible now, or discarded so that the next send builds the date
anew; once anyone may have it, it stays as they got it.`,
	}
	cmd.AddCommand(a.editionsListCommand(), a.editionsShowCommand(), a.editionsRebuildCommand(), a.editionsDiscardCommand())
	return cmd
}

func editionID(arg string) (int64, error) {
	return parseID("edition", arg, "digest editions list")
}

func recipientsText(r digest.Recipients) string {
	return fmt.Sprintf("%d sent, %d queued, %d deferred, %d failed, %d unknown", r.Sent, r.Queued, r.Deferred, r.Failed, r.Unknown)
}

func (a *App) editionsListCommand() *cobra.Command {
	var listName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--list L] [--json]",
		Short: "List stored editions, newest first, with their recipients by status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eds, err := a.editions()
			if err != nil {
				return err
			}
			var listID int64
			if listName != "" {
				l, err := a.listOf(listName)
				if err != nil {
					return err
				}
				listID = l.ID
			}
			return printListing(a, asJSON, "ID\tLIST\tDATE\tSTORIES\tBUILT\tSENT\tQUEUED\tDEFERRED\tFAILED\tUNKNOWN",
				func(fn func(digest.Info) error) error { return eds.Infos(a.ctx, listID, fn) },
				func(in digest.Info) string {
					r := in.Recipients
					return fmt.Sprintf("%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d", in.ID, in.List, in.Date, in.Stories,
						in.Built.Format("2006-01-02 15:04 MST"), r.Sent, r.Queued, r.Deferred, r.Failed, r.Unknown)
				})
		},
	}
	cmd.Flags().StringVar(&listName, "list", "", "only this list's editions (default: every list)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// editionStory is one story of an edition as editions show lists it.
type editionStory struct {
	Position int    `json:"position"`
	Kind     string `json:"kind"`
	ID       int64  `json:"id"`
	Section  string `json:"section"`
	Title    string `json:"title"`
	URL      string `json:"url"`
}

func (a *App) editionsShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a stored edition: subject, window, stories and recipients by status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eds, id, err := byID(args[0], editionID, a.editions)
			if err != nil {
				return err
			}
			in, err := eds.InfoByID(a.ctx, id)
			if err != nil {
				return err
			}
			ed, err := eds.GetByID(a.ctx, id)
			if err != nil {
				return err
			}
			st, err := a.stories()
			if err != nil {
				return err
			}
			items := []editionStory{}
			for i, sid := range ed.StoryIDs {
				kind := "lead"
				if i >= ed.Leads {
					kind = "more"
				}
				story, err := st.Get(a.ctx, sid)
				if errors.Is(err, stories.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				items = append(items, editionStory{Position: i + 1, Kind: kind, ID: sid, Section: story.Section, Title: story.Title, URL: story.URL})
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					digest.Info
					Items []editionStory `json:"items"`
				}{in, items})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, kv := range [][2]string{
				{"id", strconv.FormatInt(in.ID, 10)},
				{"list", in.List},
				{"date", in.Date},
				{"subject", in.Subject},
				{"window", in.WindowStart.Format(time.RFC3339) + " to " + in.WindowEnd.Format(time.RFC3339)},
				{"built", in.Built.Format(time.RFC3339)},
				{"recipients", recipientsText(in.Recipients)},
				{"stories", strconv.Itoa(in.Stories)},
			} {
				fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, it := range items {
				a.printf("  %2d. [%s] %d %s: %s\n", it.Position, it.Kind, it.ID, it.Section, it.Title)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// editionChange is what editions rebuild and discard print with --json.
type editionChange struct {
	ID      int64  `json:"id"`
	List    string `json:"list"`
	Date    string `json:"date"`
	Subject string `json:"subject,omitempty"`
	Stories int    `json:"stories"`
	// LeftOut are the selection's notes (rebuild only): what waits for
	// the next edition, what expired or will expire unsent.
	LeftOut []string `json:"left_out,omitempty"`
}

func (a *App) editionsRebuildCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rebuild ID [--json]",
		Short: "Select and compose an edition again (only while nobody has been sent it)",
		Long: `Select the stories eligible now for the edition's list and date and compose
it again, in place: same id and date. An edition forced on a quiet day takes
the stories that came in since. Refused once anyone may have the edition (a
delivery sent, queued or deferred); failed deliveries stay recorded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eds, id, err := byID(args[0], editionID, a.editions)
			if err != nil {
				return err
			}
			ed, sel, err := eds.Rebuild(a.ctx, a.composer(), id)
			if err != nil {
				return err
			}
			return a.summary(asJSON, func() any {
				out := editionChange{ID: ed.ID, List: ed.List, Date: ed.Date, Subject: ed.Subject, Stories: len(ed.StoryIDs)}
				for _, line := range sel.LeftOutReport() {
					out.LeftOut = append(out.LeftOut, line.Text)
				}
				return out
			}, func() {
				a.printf("rebuilt edition %d of %s for %s: %s\n  subject: %s\n", ed.ID, ed.List, ed.Date, plural(len(ed.StoryIDs), "story"), ed.Subject)
				a.reportLeftOut(sel)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rebuilt edition as JSON")
	return cmd
}

func (a *App) editionsDiscardCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discard ID [--json]",
		Short: "Delete an edition (only while nobody has been sent it)",
		Long: `Delete a stored edition nobody has been sent: its stories become eligible
again and the next send for its date builds it anew. Refused once anyone may
have the edition (a delivery sent, queued or deferred).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eds, id, err := byID(args[0], editionID, a.editions)
			if err != nil {
				return err
			}
			ed, err := eds.Discard(a.ctx, id)
			if err != nil {
				return err
			}
			return a.summary(asJSON, func() any {
				return editionChange{ID: ed.ID, List: ed.List, Date: ed.Date, Subject: ed.Subject, Stories: len(ed.StoryIDs)}
			}, func() {
				a.printf("discarded edition %d of %s for %s; its stories are eligible again (%s)\n", ed.ID, ed.List, ed.Date, plural(len(ed.StoryIDs), "story"))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the discarded edition as JSON")
	return cmd
}

// reportLeftOut prints what a selection left out and why, and names the
// stories that will expire unsent; nothing when nothing was left out.
func (a *App) reportLeftOut(sel digest.Selection) {
	for _, line := range sel.LeftOutReport() {
		a.printf("  %s\n", line.Text)
	}
}

// listStore opens the subscribers store and reads the list named: the
// setup of every command that takes a list by name.
func (a *App) listStore(name string) (*subscribers.Store, subscribers.List, error) {
	s, err := a.subscribers()
	if err != nil {
		return nil, subscribers.List{}, err
	}
	l, err := s.GetList(a.ctx, name)
	return s, l, err
}

// listOf is a helper for commands that take --list.
func (a *App) listOf(name string) (subscribers.List, error) {
	_, l, err := a.listStore(name)
	return l, err
}
