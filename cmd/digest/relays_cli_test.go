package main

import (
	"encoding/json"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

// Two --smtp URLs are two relays of equal weight: the run spreads the
// list over both, the summary and digest deliveries count per relay, and
// a dead one is rested while the other takes its recipients.
func TestSendThroughTwoRelaysCountsPerRelay(t *testing.T) {
	c := newSendingCLI(t)
	c.addMany(40)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	a, b := smtptest.Start(t, nil), smtptest.Start(t, nil)
	out, errs, code := c.run("send", "--smtp", a.URL(), "--smtp", b.URL(), "--concurrency", "2")
	if code != 0 || !strings.Contains(out, "sent 40,") || a.Accepted() != 20 || b.Accepted() != 20 {
		t.Fatalf("send: exit %d, relays took %d and %d\n%s\n%s", code, a.Accepted(), b.Accepted(), out, errs)
	}
	nameA, nameB := strings.TrimPrefix(strings.TrimSuffix(a.URL(), "?tls=none"), "smtp://"), strings.TrimPrefix(strings.TrimSuffix(b.URL(), "?tls=none"), "smtp://")
	if !strings.Contains(out, "via "+nameA+" 20 sent; "+nameB+" 20 sent") || !strings.Contains(out, "over 4 connections") {
		t.Errorf("send output lacks the relays:\n%s", out)
	}
	out = c.must("deliveries")
	if !strings.Contains(out, "by relay: "+nameA+" 20 sent; "+nameB+" 20 sent") && !strings.Contains(out, "by relay: "+nameB+" 20 sent; "+nameA+" 20 sent") {
		t.Errorf("deliveries lacks the per-relay counts:\n%s", out)
	}
	if out := c.must("deliveries", "--json"); !strings.Contains(out, `"relay": "`+nameA+`"`) && !strings.Contains(out, `"relay":"`+nameA+`"`) {
		t.Errorf("deliveries --json lacks the relay:\n%.400s", out)
	}
	// The next edition with one relay dead: everyone through the other.
	// Yesterday's edition is empty: forced, it goes to the daily readers
	// unless yesterday was the weekly day, so the weekly day is tomorrow.
	c.must("lists", "update", "daily", "--weekly-day", strings.ToLower(time.Now().UTC().AddDate(0, 0, 1).Weekday().String()[:3]))
	b.Close()
	out, errs, code = c.run("send", "--smtp", a.URL(), "--smtp", b.URL(), "--date", time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), "--force")
	if code != 0 || a.Accepted() != 60 || !strings.Contains(errs, "relay "+nameB+" rests for 1m0s") {
		t.Fatalf("send with a relay down: exit %d, a took %d in all\n%s\n%s", code, a.Accepted(), out, errs)
	}
}

// A relay whose login fails is rested and the others carry the run; its
// password appears nowhere, in the output, the ledger or the errors.
func TestRelaySecretsAreMaskedEverywhere(t *testing.T) {
	c := newSendingCLI(t)
	c.addMany(10)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	locked := smtptest.Start(t, func(s *smtptest.Server) { s.Username, s.Password = "digest", "right" })
	good := smtptest.Start(t, nil)
	secret := strings.Replace(locked.URL(), "smtp://", "smtp://digest:hunter2@", 1) + "&auth=plain"
	out, errs, code := c.run("send", "--smtp", secret, "--smtp", good.URL())
	if code != 0 || good.Accepted() != 10 || locked.Accepted() != 0 {
		t.Fatalf("send: exit %d, good took %d\n%s\n%s", code, good.Accepted(), out, errs)
	}
	if !strings.Contains(errs, "refused the login") || !strings.Contains(out+errs, "smtp://digest:***@") {
		t.Errorf("the refused relay is not explained with its redacted URL:\n%s\n%s", out, errs)
	}
	deliveries := c.must("deliveries", "--json")
	for what, text := range map[string]string{"stdout": out, "stderr": errs, "deliveries": deliveries} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("%s shows the password:\n%s", what, text)
		}
	}
}

// editions report counts the edition's deliveries per relay, in the text
// and in --json, as the two relays took them.
func TestEditionReportCountsPerRelay(t *testing.T) {
	c := newSendingCLI(t)
	c.addMany(30)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	a, b := smtptest.Start(t, nil), smtptest.Start(t, nil)
	if out, errs, code := c.run("send", "--smtp", a.URL(), "--smtp", b.URL()); code != 0 || a.Accepted() != 15 || b.Accepted() != 15 {
		t.Fatalf("send: exit %d, relays took %d and %d\n%s\n%s", code, a.Accepted(), b.Accepted(), out, errs)
	}
	name := func(s *smtptest.Server) string {
		return strings.TrimPrefix(strings.TrimSuffix(s.URL(), "?tls=none"), "smtp://")
	}
	text := c.must("editions", "report", "1")
	if !regexp.MustCompile(`(?m)^relays\s+(` + regexp.QuoteMeta(name(a)+" 15 sent; "+name(b)+" 15 sent") + `|` + regexp.QuoteMeta(name(b)+" 15 sent; "+name(a)+" 15 sent") + `)$`).MatchString(text) {
		t.Errorf("the report lacks the per-relay counts:\n%s", text)
	}
	var r struct {
		Accepted int `json:"accepted"`
		Relays   []struct {
			Relay, Status string
			Count         int
		} `json:"relays"`
	}
	if err := json.Unmarshal([]byte(c.must("editions", "report", "1", "--json")), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, rc := range r.Relays {
		got[rc.Relay+" "+rc.Status] += rc.Count
	}
	want := map[string]int{name(a) + " sent": 15, name(b) + " sent": 15}
	if r.Accepted != 30 || !maps.Equal(got, want) {
		t.Errorf("report --json: accepted %d, relays %v; want 30 and %v", r.Accepted, got, want)
	}
}
