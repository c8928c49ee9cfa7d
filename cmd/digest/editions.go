package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	id, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("edition id %q is not a number: use the ID column of digest editions list", arg)
	}
	return id, nil
}

func recipientsText(r digest.Recipients) string {
	return fmt.Sprintf("%d sent, %d queued, %d deferred, %d failed", r.Sent, r.Queued, r.Deferred, r.Failed)
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
			return printListing(a, asJSON, "ID\tLIST\tDATE\tSTORIES\tBUILT\tSENT\tQUEUED\tDEFERRED\tFAILED",
				func(fn func(digest.Info) error) error { return eds.Infos(a.ctx, listID, fn) },
				func(in digest.Info) string {
					r := in.Recipients
					return fmt.Sprintf("%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d", in.ID, in.List, in.Date, in.Stories,
						in.Built.Format("2006-01-02 15:04 MST"), r.Sent, r.Queued, r.Deferred, r.Failed)
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
			id, err := editionID(args[0])
			if err != nil {
				return err
			}
			eds, err := a.editions()
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

func (a *App) editionsRebuildCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild ID",
		Short: "Select and compose an edition again (only while nobody has been sent it)",
		Long: `Select the stories eligible now for the edition's list and date and compose
it again, in place: same id and date. An edition forced on a quiet day takes
the stories that came in since. Refused once anyone may have the edition (a
delivery sent, queued or deferred); failed deliveries stay recorded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := editionID(args[0])
			if err != nil {
				return err
			}
			eds, err := a.editions()
			if err != nil {
				return err
			}
			ed, sel, err := eds.Rebuild(a.ctx, a.composer(), id)
			if err != nil {
				return err
			}
			a.printf("rebuilt edition %d of %s for %s: %d stories\n  subject: %s\n", ed.ID, ed.List, ed.Date, len(ed.StoryIDs), ed.Subject)
			a.reportLeftOut(sel)
			return nil
		},
	}
}

func (a *App) editionsDiscardCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "discard ID",
		Short: "Delete an edition (only while nobody has been sent it)",
		Long: `Delete a stored edition nobody has been sent: its stories become eligible
again and the next send for its date builds it anew. Refused once anyone may
have the edition (a delivery sent, queued or deferred).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := editionID(args[0])
			if err != nil {
				return err
			}
			eds, err := a.editions()
			if err != nil {
				return err
			}
			ed, err := eds.Discard(a.ctx, id)
			if err != nil {
				return err
			}
			a.printf("discarded edition %d of %s for %s; its %d stories are eligible again\n", ed.ID, ed.List, ed.Date, len(ed.StoryIDs))
			return nil
		},
	}
}

// reportLeftOut prints what a selection left out and why, and names the
// stories that will expire unsent; nothing when nothing was left out.
func (a *App) reportLeftOut(sel digest.Selection) {
	for _, line := range sel.LeftOutReport() {
		a.printf("  %s\n", line.Text)
	}
}

// listOf is a helper for commands that take --list.
func (a *App) listOf(name string) (subscribers.List, error) {
	subs, err := a.subscribers()
	if err != nil {
		return subscribers.List{}, err
	}
	return subs.GetList(a.ctx, name)
}
