package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/internal/suggest"
	"github.com/newsroom/digest/preview"
)

// Exit codes: scripts rely on them, so they follow the kind of the
// error, never its wording. exitCode is the one place that maps them.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
	// exitPartial: send finished, but not every recipient was reached.
	exitPartial = 3
)

// usageError marks a mistake in how the command was called: a flag or
// argument that cannot be right whatever the data. It is made where the
// usage is checked (argument validators, flag parsing, value checks),
// and exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// partialError reports a run that finished without reaching everyone;
// it exits with exitPartial.
type partialError struct{ err error }

func (e partialError) Error() string { return e.err.Error() }
func (e partialError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code by its kind.
func exitCode(err error) int {
	var ue usageError
	var pe partialError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &pe):
		return exitPartial
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitRuntime
}

// errorLine is the single line printed for err on standard error. A
// usage error names the help of the command that was called.
func errorLine(cmd *cobra.Command, err error) string {
	line := "digest: " + oneline.String(err.Error())
	if exitCode(err) == exitUsage && cmd != nil {
		line += "; see " + cmd.CommandPath() + " --help"
	}
	return line
}

// oneLine folds a message that may hold line breaks (a server reply)
// onto one line.
func oneLine(s string) string { return oneline.String(s) }

// didYouMean is " (did you mean X?)" for the option nearest to word, or
// "" when none is close.
func didYouMean(word string, options []string, quote func(string) string) string {
	if s := suggest.Nearest(word, options); s != "" {
		return " (did you mean " + quote(s) + "?)"
	}
	return ""
}

func asFlag(name string) string { return "--" + name }

// flagError turns pflag's parse errors into usage errors that say what
// to type instead.
func flagError(cmd *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		badValue *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if short := notExist.GetSpecifiedShortnames(); short != "" && short != name {
			return usagef("unknown flag -%s in -%s", name, short)
		} else if short != "" {
			return usagef("unknown flag -%s", name)
		}
		return usagef("unknown flag --%s%s", name, didYouMean(name, flagNames(cmd), asFlag))
	case errors.As(err, &noValue):
		return usagef("--%s needs a value", noValue.GetFlag().Name)
	case errors.As(err, &badValue):
		f := badValue.GetFlag()
		return usagef("--%s %q is not %s", f.Name, badValue.GetValue(), valueKind(f.Value.Type()))
	}
	return usageError{err}
}

// flagNames are the flags cmd accepts, its own first.
func flagNames(cmd *cobra.Command) []string {
	var names []string
	add := func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return names
}

// valueKind says in words what a flag of a pflag type takes.
func valueKind(typ string) string {
	switch {
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "a whole number"
	case strings.HasPrefix(typ, "float"):
		return "a number"
	case typ == "duration":
		return "a duration like 90s, 15m or 3h"
	case typ == "bool":
		return "true or false"
	}
	return "a valid " + typ
}

// checkArgs walks the command tree once it is built and makes every
// argument error a usage error with a plain message: a missing argument
// is named from the command's Use line, an extra one is quoted, and a
// word after a command group is an unknown command with the near miss.
// Commands added later by anyone get the same treatment.
func checkArgs(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		checkArgs(c)
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		// A bare group prints its help; a word after it must be a
		// subcommand (cobra would otherwise print the help, exit 0).
		cmd.Args = unknownCommand
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		cmd.DisableFlagsInUseLine = true
		return
	}
	check := cmd.Args
	if check == nil {
		return
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		err := check(c, args)
		if err == nil {
			return nil
		}
		want := positionals(c.Use)
		switch {
		case len(args) < len(want):
			return usagef("missing argument %s", strings.Join(want[len(args):], " "))
		case len(args) > len(want):
			return usagef("unexpected argument %q", args[len(want)])
		}
		return usageError{err}
	}
}

// unknownCommand refuses any argument to a command group.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("unknown command %q for %s%s", args[0], c.CommandPath(), didYouMean(args[0], names, func(s string) string { return c.CommandPath() + " " + s }))
}

// positionals are the argument names of a Use line: the upper-case words
// before the first flag or bracket ("set NAME [--order N]" has NAME).
func positionals(use string) []string {
	var out []string
	for _, w := range strings.Fields(use)[1:] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "|") {
			break
		}
		out = append(out, w)
	}
	return out
}

// checkDate checks a --date flag before any work: empty (today) or
// YYYY-MM-DD, and for preview also "next". Whether the date is in the
// future depends on the list's time zone and is checked later.
func checkDate(date string, next bool) error {
	if date == "" || next && date == preview.NextDate {
		return nil
	}
	if _, err := time.Parse(digest.DateLayout, date); err == nil {
		return nil
	}
	if next {
		return usagef("--date %q is not YYYY-MM-DD (like 2026-11-28) or next (the next edition not yet stored)", date)
	}
	return usagef("--date %q is not YYYY-MM-DD (like 2026-11-28)", date)
}
