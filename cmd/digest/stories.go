package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/clicks"
	"github.com/newsroom/digest/internal/canon"
	"github.com/newsroom/digest/stories"
)

func (a *App) storiesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "stories", Short: "Add, import, list and curate stories"}
	cmd.AddCommand(a.storiesAddCommand(), a.storiesImportCommand(), a.storiesListCommand())
	cmd.AddCommand(a.storiesCurateCommands()...)
	return cmd
}

func (a *App) storiesAddCommand() *cobra.Command {
	var st stories.Story
	var published string
	cmd := &cobra.Command{
		Use:   "add --section S --title T --url U [--teaser X] [--published RFC3339] [--score N]",
		Short: "Add a story (a new section is created on first use)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if published != "" {
				t, err := time.Parse(time.RFC3339, published)
				if err != nil {
					return usagef("--published %q is not RFC 3339 (like 2026-11-28T06:00:00Z)", published)
				}
				st.PublishedAt = t
			}
			st.URL = canon.StoryURL(st.URL)
			if err := stories.Normalize(withDefaultTime(st, a.now())); err != nil {
				return usageError{err}
			}
			s, err := a.stories()
			if err != nil {
				return err
			}
			if err := s.Add(a.ctx, &st); err != nil {
				return err
			}
			a.printf("story %d added to %s: %s\n", st.ID, st.Section, st.Title)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&st.Section, "section", "", "section name (created if new)")
	f.StringVar(&st.Title, "title", "", "headline")
	f.StringVar(&st.URL, "url", "", "link to the article (http or https)")
	f.StringVar(&st.Teaser, "teaser", "", "teaser text")
	f.StringVar(&published, "published", "", "publication time, RFC 3339 (default now)")
	f.Float64Var(&st.Score, "score", 0, "editorial score: higher comes first")
	return cmd
}

// withDefaultTime gives a copy to validate before anything is stored.
func withDefaultTime(st stories.Story, now time.Time) *stories.Story {
	if st.PublishedAt.IsZero() {
		st.PublishedAt = now
	}
	return &st
}

func (a *App) storiesImportCommand() *cobra.Command {
	var skipBad, asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE [--skip-bad] [--json]",
		Short: "Import stories from JSON: an array, or one object per line",
		Long: `Import stories from a JSON file: either one array of objects or one object per
line, with the fields section, title, url, teaser, published_at (RFC 3339 or
RFC 1123 as feeds write it), score (a number, or a number in quotes), image
(an http(s) URL) and byline. Other fields are ignored and counted. A story whose
url is already stored is updated. The file is imported whole or not at all: the
first bad line is reported with its number; --skip-bad imports the good lines
and lists the bad ones. Use - to read standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, closeIn, err := a.openInput(args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			s, err := a.stories()
			if err != nil {
				return err
			}
			res, err := s.ImportWith(a.ctx, in, stories.ImportOptions{SkipBad: skipBad})
			if err != nil {
				hint := "nothing was imported"
				if !skipBad {
					hint += " (--skip-bad imports the good lines)"
				}
				return fmt.Errorf("import %s: %w; %s", args[0], err, hint)
			}
			for _, le := range res.Bad {
				fmt.Fprintf(a.stderr, "skipped %s\n", le)
			}
			if res.Imported == 0 && len(res.Bad) > 0 {
				// --skip-bad that kept nothing is a failed import, not a success
				// (with --json too: scripts read the exit code).
				return fmt.Errorf("import %s: no story imported: all %d lines were bad (listed above)", args[0], len(res.Bad))
			}
			if asJSON {
				bad := []string{}
				for _, le := range res.Bad {
					bad = append(bad, le.Error())
				}
				return writeJSON(a.stdout, struct {
					File     string         `json:"file"`
					Imported int            `json:"imported"`
					Skipped  []string       `json:"skipped"`
					Ignored  map[string]int `json:"ignored_fields"`
				}{args[0], res.Imported, bad, res.Ignored})
			}
			a.printf("imported %s from %s", plural(res.Imported, "story"), args[0])
			if len(res.Bad) > 0 {
				a.printf(", skipped %s", plural(len(res.Bad), "bad line"))
			}
			a.printf("\n")
			if sum := res.IgnoredSummary(); sum != "" {
				a.printf("%s\n", sum)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false, "import the good lines and list the bad ones instead of importing nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// storyRow is a story as stories list shows it, with its clicks.
type storyRow struct {
	stories.Story
	Clicks int64 `json:"clicks"`
}

func (a *App) storiesListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List stories, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.stories()
			if err != nil {
				return err
			}
			// Clicks (aggregate, every edition) ride along so editors can
			// rank by them.
			counts, err := clicks.ByStory(a.ctx, s.DB)
			if err != nil {
				return err
			}
			return printListing(a, asJSON, "ID\tSECTION\tPUBLISHED\tSCORE\tFLAGS\tTITLE",
				func(fn func(storyRow) error) error {
					return s.List(a.ctx, func(st stories.Story) error { return fn(storyRow{st, counts[st.ID]}) })
				},
				func(st storyRow) string {
					flags := ""
					if st.Pinned {
						flags += "pinned "
					}
					if st.Hidden {
						flags += "hidden"
					}
					return fmt.Sprintf("%d\t%s\t%s\t%g\t%s\t%s", st.ID, st.Section, st.PublishedAt.Format("2006-01-02 15:04"), st.Score, flags, st.Title)
				})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// printListing prints the rows each yields: a streamed JSON array with
// asJSON, otherwise an aligned table under header, one line per row
// (columns separated by tabs).
func printListing[T any](a *App, asJSON bool, header string, each func(func(T) error) error, line func(T) string) error {
	if asJSON {
		return streamJSON(a.stdout, func(emit func(any) error) error {
			return each(func(v T) error { return emit(v) })
		})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	err := each(func(v T) error {
		_, err := fmt.Fprintln(tw, line(v))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// printRows is printListing over a slice already read: each row as view
// shows it in JSON, as line in the table.
func printRows[T any](a *App, asJSON bool, header string, list []T, view func(T) any, line func(T) string) error {
	if asJSON {
		return streamJSON(a.stdout, func(emit func(any) error) error {
			for _, v := range list {
				if err := emit(view(v)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return printListing(a, false, header, func(yield func(T) error) error {
		for _, v := range list {
			if err := yield(v); err != nil {
				return err
			}
		}
		return nil
	}, line)
}

// streamJSON writes a JSON array element by element, so a long listing
// never sits in memory whole. Every listing has this one form: "[", one
// compact object per line indented by two spaces, "]" ("[]" when empty);
// a valid document for jq and a line per row for grep. Like every JSON
// digest prints, it keeps <, > and & as they are (no \u003c).
func streamJSON(w io.Writer, each func(emit func(any) error) error) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	first := true
	err := each(func(v any) error {
		buf.Reset()
		if first {
			buf.WriteString("[\n  ")
			first = false
		} else {
			buf.WriteString(",\n  ")
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		_, err := w.Write(buf.Bytes())
		return err
	})
	if err != nil {
		return err
	}
	end := "\n]\n"
	if first {
		end = "[]\n"
	}
	_, err = io.WriteString(w, end)
	return err
}
