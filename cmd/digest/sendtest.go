package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/newsroom/digest/subscribers"
)

// TestSubjectPrefix marks a test send in the subject.
const TestSubjectPrefix = "[TEST]"

// testToken is the unsubscribe token of a test recipient who is not a
// subscriber: their test message's link leads nowhere.
const testToken = "test-send"

// sendTest sends the edition to the given addresses only, with [TEST]
// before the subject, and records nothing: no edition is stored (a date
// without one is composed as the preview shows it) and no delivery is
// written, so the real send afterwards still reaches every subscriber.
// Every address is checked before anything is sent.
func (a *App) sendTest(to, listName, date string) error {
	addrs, err := parseTestAddresses(to)
	if err != nil {
		return err
	}
	// The same checks as the real send (SMTP URL, DKIM key, sender),
	// before anything is composed.
	transport, _, err := a.preflight(listName, true, false)
	if err != nil {
		return err
	}
	defer transport.Close()
	src, err := a.previewSource()
	if err != nil {
		return err
	}
	ed, err := src.Load(a.ctx, listName, date)
	if err != nil {
		return err
	}
	subs, err := a.subscribers()
	if err != nil {
		return err
	}
	rcpts := make([]subscribers.Subscriber, 0, len(addrs))
	for _, addr := range addrs {
		// A subscriber gets their own copy (name, unsubscribe link); anyone
		// else a placeholder link. No subscriber is ever created here.
		sub, err := subs.Get(a.ctx, addr)
		if errors.Is(err, subscribers.ErrUnknownSubscriber) {
			sub, err = subscribers.Subscriber{Email: addr, Token: testToken}, nil
		}
		if err != nil {
			return err
		}
		rcpts = append(rcpts, sub)
	}
	what := "composed now, not stored"
	if ed.Stored {
		what = fmt.Sprintf("stored edition %d", ed.ID)
	}
	a.printf("test send of %s for %s (%s) via %s\n", ed.List.Name, ed.Date, what, transport)
	if ed.Selection != nil {
		a.reportLeftOut(*ed.Selection)
	}
	// The engine of the real send: same message, same signing, same
	// session code; only the prefix, the recipients and the ledger differ.
	s, err := a.sender(transport, sendOptions{}, func(format string, args ...any) { fmt.Fprintf(a.stderr, format+"\n", args...) })
	if err != nil {
		return err
	}
	err = s.SendTest(a.ctx, ed.Edition, ed.List, rcpts, TestSubjectPrefix, func(r subscribers.Subscriber) { a.printf("  sent to %s\n", r.Email) })
	if err != nil {
		return err
	}
	a.printf("%s sent; nothing recorded, the real send still reaches every subscriber\n", plural(len(rcpts), "test message"))
	return nil
}

// parseTestAddresses splits and validates --test: every address must be
// valid, or nothing is sent. Duplicates are sent once.
func parseTestAddresses(raw string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(raw, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		addr, err := subscribers.NormalizeAddress(part)
		if err != nil {
			return nil, usagef("--test: %v; nothing was sent", err)
		}
		if key := strings.ToLower(addr); !seen[key] {
			seen[key] = true
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--test needs at least one address, like --test editor@example.com,desk@example.com")
	}
	return out, nil
}
