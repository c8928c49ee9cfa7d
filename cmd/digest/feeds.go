package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/newsroom/digest/feeds"
)

func (a *App) feedsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "feeds", Short: "Stories from RSS, Atom and JSON feeds and news sitemaps"}
	cmd.AddCommand(a.feedsAddCommand(), a.feedsListCommand(), a.feedsUpdateCommand(), a.feedsRemoveCommand(), a.feedsFetchCommand())
	return cmd
}

func (a *App) feedStore() (*feeds.Store, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &feeds.Store{DB: db, Now: a.now}, nil
}

// feedFlags are the settings add and update share.
type feedFlags struct {
	section, name, categoryMap, kind, every, url string
	enrich, allowPrivate, asJSON                 bool
}

const feedFlagsUsage = `[--section S] [--name N] [--every DURATION] [--category-map "Politics=americas,Tech=technology"] [--type rss|sitemap] [--enrich] [--allow-private]`

func (ff *feedFlags) register(f *pflag.FlagSet) {
	f.StringVar(&ff.section, "section", "", "section of every item (default: from --category-map, else "+feeds.DefaultSection+")")
	f.StringVar(&ff.name, "name", "", "name shown in feeds list")
	f.StringVar(&ff.every, "every", "", "poll interval, e.g. 30m (5m to 6h; default adaptive)")
	f.StringVar(&ff.categoryMap, "category-map", "", `item categories to sections, "Politics=americas,Tech=technology" ("*=S" for the rest)`)
	f.StringVar(&ff.kind, "type", "", "rss (RSS, Atom, JSON Feed) or sitemap (Google News sitemap or index); default rss")
	f.BoolVar(&ff.enrich, "enrich", false, "fetch the article page for items without a summary or image")
	f.BoolVar(&ff.allowPrivate, "allow-private", false, "allow a feed on a private or loopback address (an intranet CMS)")
	f.BoolVar(&ff.asJSON, "json", false, "print the feed as JSON")
}

// change turns the flags given into a feeds.Change.
func (ff *feedFlags) change(f *pflag.FlagSet) (feeds.Change, error) {
	var ch feeds.Change
	if f.Changed("section") {
		ch.Section = &ff.section
	}
	if f.Changed("name") {
		ch.Name = &ff.name
	}
	if f.Changed("type") {
		ch.Kind = &ff.kind
	}
	if f.Changed("every") {
		d, err := parseEvery(ff.every)
		if err != nil {
			return ch, err
		}
		ch.Every = &d
	}
	if f.Changed("category-map") {
		m, err := feeds.ParseCategoryMap(ff.categoryMap)
		if err != nil {
			return ch, usageError{err}
		}
		ch.CategoryMap = &m
	}
	if f.Changed("enrich") {
		ch.Enrich = &ff.enrich
	}
	if f.Changed("allow-private") {
		ch.AllowPrivate = &ff.allowPrivate
	}
	if f.Changed("url") {
		ch.URL = &ff.url
	}
	return ch, nil
}

// parseEvery reads --every; "adaptive" or 0 means the adaptive schedule.
func parseEvery(s string) (time.Duration, error) {
	if s == "adaptive" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < feeds.MinInterval || d > feeds.MaxInterval {
		return 0, usagef("--every %q is not a duration from %s to %s (like 30m); leave it out, or say adaptive, for the adaptive schedule", s, feeds.MinInterval, feeds.MaxInterval)
	}
	return d, nil
}

func feedID(arg string) (int64, error) {
	return parseID("feed", arg, "digest feeds list")
}

// feedError marks a bad setting (feeds.ErrInvalid) as a usage error, by
// kind: any other failure of the store stays a runtime error.
func feedError(err error) error {
	if errors.Is(err, feeds.ErrInvalid) {
		return usageError{err}
	}
	return err
}

func (a *App) feedsAddCommand() *cobra.Command {
	var ff feedFlags
	cmd := &cobra.Command{
		Use:   "add URL " + feedFlagsUsage,
		Short: "Add a feed; digest serve polls it, digest feeds fetch fetches it now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, err := ff.change(cmd.Flags())
			if err != nil {
				return err
			}
			f := feeds.Feed{URL: args[0], Name: ff.name, Section: ff.section, Kind: ff.kind, Enrich: ff.enrich, AllowPrivate: ff.allowPrivate}
			if ch.CategoryMap != nil {
				f.CategoryMap = *ch.CategoryMap
			}
			if ch.Every != nil {
				f.Every = *ch.Every
			}
			s, err := a.feedStore()
			if err != nil {
				return err
			}
			if err := s.Add(a.ctx, &f); err != nil {
				return feedError(err)
			}
			return a.printFeed(s, f.ID, ff.asJSON, "added")
		},
	}
	ff.register(cmd.Flags())
	return cmd
}

func (a *App) printFeed(s *feeds.Store, id int64, asJSON bool, verb string) error {
	f, err := s.Get(a.ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, feedJSON(f))
	}
	a.printf("%s feed %d: %s (%s, section %s, every %s)\n", verb, f.ID, f.URL, f.Kind, sectionRule(f), every(f))
	return nil
}

func sectionRule(f feeds.Feed) string {
	switch {
	case f.Section != "":
		return f.Section
	case len(f.CategoryMap) > 0:
		return "by category: " + f.CategoryMap.String()
	}
	return feeds.DefaultSection
}

func every(f feeds.Feed) string {
	if f.Every == 0 {
		return "adaptive"
	}
	return f.Every.String()
}

// feedJSON is a feed as the --json outputs show it. A feed never fetched
// has no last_fetch: like every JSON digest prints, a field without a
// value is left out.
func feedJSON(f feeds.Feed) map[string]any {
	out := map[string]any{
		"id": f.ID, "name": f.Name, "url": f.URL, "type": f.Kind, "section": f.Section,
		"category_map": f.CategoryMap.String(), "every": every(f), "enrich": f.Enrich, "allow_private": f.AllowPrivate,
		"last_status": f.LastStatus, "items_stored": f.Items, "errors_in_row": f.Errors, "last_error": f.LastError,
		"next_fetch": f.NextFetch.Format(time.RFC3339),
	}
	if !f.LastFetch.IsZero() {
		out["last_fetch"] = f.LastFetch.Format(time.RFC3339)
	}
	return out
}

func (a *App) feedsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List feeds with their last fetch, status, items stored, next fetch and errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.feedStore()
			if err != nil {
				return err
			}
			list, err := s.List(a.ctx)
			if err != nil {
				return err
			}
			header := "ID\tNAME\tURL\tSECTION\tLAST FETCH\tSTATUS\tITEMS\tNEXT FETCH\tERRORS\tLAST ERROR"
			return printRows(a, asJSON, header, list, func(f feeds.Feed) any { return feedJSON(f) }, func(f feeds.Feed) string {
				last, status := "never", "-"
				if !f.LastFetch.IsZero() {
					last = f.LastFetch.Local().Format("2006-01-02 15:04")
				}
				if f.LastStatus != 0 {
					status = strconv.Itoa(f.LastStatus)
				}
				next := "now"
				if f.NextFetch.After(a.now()) {
					next = f.NextFetch.Local().Format("2006-01-02 15:04")
				}
				return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s", f.ID, f.Name, f.URL, sectionRule(f), last, status,
					f.Items, next, f.Errors, oneLine(f.LastError))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *App) feedsUpdateCommand() *cobra.Command {
	var ff feedFlags
	cmd := &cobra.Command{
		Use:   "update ID [--url URL] " + feedFlagsUsage,
		Short: "Change a feed's settings (only the flags given change)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := feedID(args[0])
			if err != nil {
				return err
			}
			ch, err := ff.change(cmd.Flags())
			if err != nil {
				return err
			}
			if ch == (feeds.Change{}) {
				return usagef("nothing to change: give at least one of --url, --section, --name, --every, --category-map, --type, --enrich, --allow-private")
			}
			s, err := a.feedStore()
			if err != nil {
				return err
			}
			if _, err := s.Update(a.ctx, id, ch); err != nil {
				return feedError(err)
			}
			return a.printFeed(s, id, ff.asJSON, "updated")
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&ff.url, "url", "", "new feed URL")
	return cmd
}

func (a *App) feedsRemoveCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "remove ID [--json]",
		Short: "Remove a feed (the stories it brought stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, id, err := byID(args[0], feedID, a.feedStore)
			if err != nil {
				return err
			}
			if err := s.Remove(a.ctx, id); err != nil {
				return err
			}
			return a.summary(asJSON, func() any { return map[string]any{"id": id, "removed": true} },
				func() { a.printf("removed feed %d\n", id) })
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"id": ID, "removed": true}`)
	return cmd
}

func (a *App) feedsFetchCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fetch [ID ...] [--json]",
		Short: "Fetch feeds now (all when none is named): new, updated, unchanged, skipped and HTTP status per feed",
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids []int64
			for _, arg := range args {
				id, err := feedID(arg)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			s, err := a.feedStore()
			if err != nil {
				return err
			}
			p := &feeds.Poller{Feeds: s, Fetcher: a.feedFetcher()}
			results, err := p.FetchNow(a.ctx, ids)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if r.Err != nil {
					failed++
				}
			}
			if asJSON {
				if err := writeJSON(a.stdout, results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					a.printFetch(r)
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d feeds failed (see above): each is tried again later with back-off", failed, len(results))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as a JSON array")
	return cmd
}

// feedFetcher is the fetcher of CLI and daemon: the private-address
// guard is on, lifted only per feed by --allow-private.
func (a *App) feedFetcher() *feeds.Fetcher { return &feeds.Fetcher{} }

func (a *App) printFetch(r feeds.Result) {
	name := fmt.Sprintf("feed %d", r.ID)
	if r.Name != "" {
		name += " (" + oneLine(r.Name) + ")"
	}
	status := "no answer"
	if r.Status != 0 {
		status = "HTTP " + strconv.Itoa(r.Status)
	}
	if r.Err != nil {
		a.printf("%s: %s, failed: %s\n", name, status, oneLine(r.Error))
		return
	}
	a.printf("%s: %s, new %d, updated %d, unchanged %d, skipped %d", name, status, r.New, r.Updated, r.Unchanged, r.Skipped)
	if r.NotModified {
		a.printf(" (not modified)")
	}
	a.printf("\n")
	if r.MovedTo != "" {
		a.printf("  moved permanently: the feed's URL is now %s\n", r.MovedTo)
	}
	for _, p := range r.Problems {
		a.printf("  skipped %s\n", oneLine(p))
	}
}
