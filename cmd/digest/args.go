package main

import (
	"strconv"
	"strings"
)

// parseID reads the ID argument of a command on a kind of thing (story,
// edition, feed): a positive number, or a usage error naming the listing
// whose ID column has them.
func parseID(kind, arg, listing string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s id %q is not a number: use the ID column of %s", kind, arg, listing)
	}
	return id, nil
}

// byID is the setup of every command that acts on one thing by its ID:
// parse the argument, then open the store that owns it. The id is read
// first, so that a bad one is a usage error before a database is opened
// (or created).
func byID[S any](arg string, parse func(string) (int64, error), open func() (S, error)) (S, int64, error) {
	var s S
	id, err := parse(arg)
	if err != nil {
		return s, 0, err
	}
	s, err = open()
	return s, id, err
}

// summary prints a command's result: v as one indented JSON document
// with --json (the lines meant for a person then go to standard error),
// otherwise what text prints.
func (a *App) summary(asJSON bool, v func() any, text func()) error {
	if !asJSON {
		text()
		return nil
	}
	return writeJSON(a.jsonOutput(), v())
}
