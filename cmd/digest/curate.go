package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/stories"
)

// storiesCurateCommands are the editor's tools: pin, unpin, hide, unhide
// and edit a story by the id `digest stories list` shows. The next
// edition and the preview reflect them at once; a stored edition does
// not change (it is sent as it was built).
func (a *App) storiesCurateCommands() []*cobra.Command {
	flag := func(use, short, done string, set func(*stories.Store, int64) (stories.Story, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := storyID(args[0])
				if err != nil {
					return err
				}
				s, err := a.stories()
				if err != nil {
					return err
				}
				st, err := set(s, id)
				if err != nil {
					return err
				}
				a.printf("story %d %s: %s\n", st.ID, done, st.Title)
				return nil
			},
		}
	}
	return []*cobra.Command{
		flag("pin", "Pin a story: it leads its section whatever its score", "pinned",
			func(s *stories.Store, id int64) (stories.Story, error) { return s.SetPinned(a.ctx, id, true) }),
		flag("unpin", "Unpin a story", "unpinned",
			func(s *stories.Store, id int64) (stories.Story, error) { return s.SetPinned(a.ctx, id, false) }),
		flag("hide", "Hide a story: it is never selected for an edition", "hidden",
			func(s *stories.Store, id int64) (stories.Story, error) { return s.SetHidden(a.ctx, id, true) }),
		flag("unhide", "Show a hidden story again", "shown again",
			func(s *stories.Store, id int64) (stories.Story, error) { return s.SetHidden(a.ctx, id, false) }),
		a.storiesEditCommand(),
	}
}

func storyID(arg string) (int64, error) {
	return parseID("story", arg, "digest stories list")
}

func (a *App) storiesEditCommand() *cobra.Command {
	var title, teaser, section, link string
	var score float64
	cmd := &cobra.Command{
		Use:   "edit ID [--title T] [--teaser X] [--section S] [--score N] [--url U]",
		Short: "Change a story's title, teaser, section, score or link",
		Long: `Change a story's fields. Only the flags given change; --teaser "" clears the
teaser. The changed title, teaser, section and score are kept when the same URL
is imported again later, so the feed does not undo an editor's fix.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := storyID(args[0])
			if err != nil {
				return err
			}
			var e stories.Edit
			f := cmd.Flags()
			if f.Changed("title") {
				if oneLine(title) == "" {
					return usagef("--title is empty: every story needs a headline")
				}
				e.Title = &title
			}
			if f.Changed("teaser") {
				e.Teaser = &teaser
			}
			if f.Changed("section") {
				if oneLine(section) == "" {
					return usagef("--section is empty: name the section to move the story to")
				}
				e.Section = &section
			}
			if f.Changed("url") {
				if err := stories.CheckURL(strings.TrimSpace(link)); err != nil {
					return usageError{err}
				}
				e.URL = &link
			}
			if f.Changed("score") {
				e.Score = &score
			}
			if e.Empty() {
				return usagef("nothing to change: give at least one of --title, --teaser, --section, --score, --url")
			}
			s, err := a.stories()
			if err != nil {
				return err
			}
			st, err := s.Edit(a.ctx, id, e)
			if err != nil {
				return err
			}
			a.printf("story %d updated: %s | %s | score %g | %s\n", st.ID, st.Section, st.Title, st.Score, st.URL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&title, "title", "", "new headline")
	f.StringVar(&teaser, "teaser", "", "new teaser (\"\" clears it)")
	f.StringVar(&section, "section", "", "move to this section (created if new)")
	f.Float64Var(&score, "score", 0, "new editorial score: higher comes first")
	f.StringVar(&link, "url", "", "new link (http or https)")
	return cmd
}

func (a *App) sectionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sections", Short: "List sections and set their order, size and display name"}
	cmd.AddCommand(a.sectionsListCommand(), a.sectionsSetCommand())
	return cmd
}

func (a *App) sectionsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List sections in display order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.stories()
			if err != nil {
				return err
			}
			secs, err := s.Sections(a.ctx)
			if err != nil {
				return err
			}
			counts, err := s.SectionCounts(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					stories.Section
					DisplayTitle   string `json:"display_title"`
					TitleAutomatic bool   `json:"title_automatic"`
					Stories        int    `json:"stories"`
				}
				return streamJSON(a.stdout, func(emit func(any) error) error {
					for _, sec := range secs {
						if err := emit(row{sec, sec.DisplayName(), sec.TitleAutomatic(), counts[sec.ID]}); err != nil {
							return err
						}
					}
					return nil
				})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ORDER\tNAME\tTITLE\tMAX\tSTORIES")
			for _, sec := range secs {
				title := sec.DisplayName()
				if sec.TitleAutomatic() {
					// Made from the name until an editor sets one.
					title += " (automatic)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", sec.Order, sec.Name, title, sec.MaxStories, counts[sec.ID])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *App) sectionsSetCommand() *cobra.Command {
	var order, max int
	var title string
	var create, asJSON bool
	cmd := &cobra.Command{
		Use:   `set NAME [--order N] [--max N] [--title "Display name"] [--create] [--json]`,
		Short: "Set a section's display order, maximum stories and display name",
		Long: `Set a section's settings; only the flags given change. --order places sections
(lower first), --max is how many stories the section shows per edition (0: its
stories only appear under "More headlines"), --title is the heading subscribers
see ("" shows the name). A name that is not a section yet is refused, so a typo
does not create an empty section; --create creates it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch stories.SectionChange
			f := cmd.Flags()
			if f.Changed("order") {
				ch.Order = &order
			}
			if f.Changed("max") {
				if max < 0 {
					return usagef("--max %d is negative: use 0 to show the section only under More headlines", max)
				}
				ch.MaxStories = &max
			}
			if f.Changed("title") {
				ch.Title = &title
			}
			if ch.Order == nil && ch.MaxStories == nil && ch.Title == nil && !create {
				return usagef("nothing to change: give at least one of --order, --max, --title")
			}
			s, err := a.stories()
			if err != nil {
				return err
			}
			if !create {
				if _, err := s.Section(a.ctx, args[0]); err != nil {
					return fmt.Errorf("%w, or add --create to make a new one", err)
				}
			}
			sec, err := s.SetSection(a.ctx, args[0], ch)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, sec)
			}
			a.printf("section %s: order %d, at most %s, shown as %q\n", sec.Name, sec.Order, plural(sec.MaxStories, "story"), sec.DisplayName())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&order, "order", 0, "display order: lower comes first")
	f.IntVar(&max, "max", 0, "most stories shown per edition")
	f.StringVar(&title, "title", "", "display name in the digest")
	f.BoolVar(&create, "create", false, "create the section if it does not exist")
	f.BoolVar(&asJSON, "json", false, "print the section as JSON")
	return cmd
}
