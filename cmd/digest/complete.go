package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// completionLimit caps the stories and editions offered: a shell menu of
// thousands helps nobody, and the newest are the ones an editor means.
const completionLimit = 100

// completer returns the candidates for one word, from the store.
type completer func(a *App, cmd *cobra.Command) ([]cobra.Completion, error)

// registerCompletions teaches the whole command tree the values it can
// take: list names for every --list, statuses for --status, section
// names for --section, story ids for the curation commands, edition ids
// for --edition, and the fixed values of --direction, --log-format and
// --log-level. `digest completion bash|zsh|fish|powershell` prints the
// shell script that calls them.
func (a *App) registerCompletions(root *cobra.Command) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		flag := func(name string, fn cobra.CompletionFunc) {
			if c.LocalFlags().Lookup(name) == nil {
				return
			}
			if err := c.RegisterFlagCompletionFunc(name, fn); err != nil {
				panic(err) // a second registration is a programming error
			}
		}
		flag("list", a.complete(listNames))
		if c.Name() == "deliveries" {
			flag("status", fixed(delivery.Statuses...))
		} else {
			flag("status", fixed(subscribers.StatusActive, subscribers.StatusUnsubscribed, subscribers.StatusBounced))
		}
		flag("section", a.complete(sectionNames))
		flag("edition", a.complete(editionIDs))
		flag("direction", fixed("ltr", "rtl"))
		flag("log-format", fixed("text", "json"))
		flag("log-level", fixed("debug", "info", "warn", "error"))
	}
	walk(root)
	arg := func(path string, fn completer) {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil || c.CommandPath() != "digest "+path {
			panic(fmt.Sprintf("completion for unknown command %q", path))
		}
		c.ValidArgsFunction = a.completeFirst(fn)
	}
	arg("stories pin", storyIDs(func(st stories.Story) bool { return !st.Pinned }))
	arg("stories unpin", storyIDs(func(st stories.Story) bool { return st.Pinned }))
	arg("stories hide", storyIDs(func(st stories.Story) bool { return !st.Hidden }))
	arg("stories unhide", storyIDs(func(st stories.Story) bool { return st.Hidden }))
	arg("stories edit", storyIDs(func(stories.Story) bool { return true }))
	for _, p := range []string{"lists show", "lists update", "lists delete"} {
		arg(p, listNames)
	}
	arg("sections set", sectionNames)
}

// complete runs fn on a read-only store opened with the command's own
// flags (--db, --config): completion never creates a database, and any
// failure (no database yet) just completes nothing.
func (a *App) complete(fn completer) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		a.readOnly = true
		if err := a.loadConfig(cmd.Flags()); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out, err := fn(a, cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFirst completes a command's single positional argument.
func (a *App) completeFirst(fn completer) cobra.CompletionFunc {
	inner := a.complete(fn)
	return func(cmd *cobra.Command, args []string, word string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return inner(cmd, args, word)
	}
}

func listNames(a *App, _ *cobra.Command) ([]cobra.Completion, error) {
	s, err := a.subscribers()
	if err != nil {
		return nil, err
	}
	lists, err := s.AllLists(a.ctx)
	return described(lists, err, func(l subscribers.List) (string, string) { return l.Name, l.DisplayTitle() })
}

func sectionNames(a *App, _ *cobra.Command) ([]cobra.Completion, error) {
	s, err := a.stories()
	if err != nil {
		return nil, err
	}
	secs, err := s.Sections(a.ctx)
	return described(secs, err, func(sec stories.Section) (string, string) { return sec.Name, sec.Title })
}

// described makes completions of what a store read returned, each value
// with its description when it has one.
func described[T any](items []T, err error, f func(T) (value, desc string)) ([]cobra.Completion, error) {
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(items))
	for _, it := range items {
		v, d := f(it)
		if d != "" {
			v = cobra.CompletionWithDesc(v, d)
		}
		out = append(out, v)
	}
	return out, nil
}

// errEnough stops a listing once the completion has what it offers.
var errEnough = errors.New("enough")

// storyIDs offers the ids of the newest stories that keep, with their
// titles as descriptions.
func storyIDs(keep func(stories.Story) bool) completer {
	return func(a *App, _ *cobra.Command) ([]cobra.Completion, error) {
		s, err := a.stories()
		if err != nil {
			return nil, err
		}
		var out []cobra.Completion
		err = s.List(a.ctx, func(st stories.Story) error {
			if keep(st) {
				out = append(out, cobra.CompletionWithDesc(fmt.Sprint(st.ID), oneLine(st.Title)))
			}
			if len(out) == completionLimit {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return nil, err
		}
		return out, nil
	}
}

// editionIDs offers the newest editions of every list (or of --list when
// given), described by list, date and subject.
func editionIDs(a *App, cmd *cobra.Command) ([]cobra.Completion, error) {
	s, err := a.subscribers()
	if err != nil {
		return nil, err
	}
	lists, err := s.AllLists(a.ctx)
	if err != nil {
		return nil, err
	}
	eds, err := a.editions()
	if err != nil {
		return nil, err
	}
	only, _ := cmd.Flags().GetString("list")
	var out []cobra.Completion
	for _, l := range lists {
		if only != "" && l.Name != only {
			continue
		}
		recent, err := eds.Recent(a.ctx, l, completionLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range recent {
			out = append(out, cobra.CompletionWithDesc(fmt.Sprint(e.ID), l.Name+" "+e.Date+": "+oneLine(e.Subject)))
		}
	}
	return out, nil
}
