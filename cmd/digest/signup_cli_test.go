package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

var confirmLinkRE = regexp.MustCompile(`https://news\.example\.com/confirm/([A-Za-z0-9_-]+)`)

// openStore opens the CLI's database for what no command does: pressing
// the confirmation button, choosing preferences.
func (c *cli) openStore() (*store.DB, *subscribers.Store) {
	c.t.Helper()
	db, err := store.Open(context.Background(), c.env["DIGEST_DB"])
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db, &subscribers.Store{DB: db}
}

// confirmationTokens are the tokens of the confirmation links the SMTP
// server received, by recipient.
func confirmationTokens(t *testing.T, srv *smtptest.Server) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range srv.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		text, _ := parts(t, msg)
		link := confirmLinkRE.FindStringSubmatch(text)
		if link == nil {
			t.Fatalf("a confirmation to %v has no link:\n%s", m.To, text)
		}
		out[m.To[0]] = append(out[m.To[0]], link[1])
	}
	return out
}

func TestSubscribersConfirmPendingShowAndExportConsent(t *testing.T) {
	c := newSendingCLI(t)
	srv := smtptest.Start(t, nil)
	c.env["DIGEST_SMTP_URL"] = srv.URL()

	// add --confirm mails a link and makes no membership.
	out := c.must("subscribers", "add", "grace@Example.COM", "--name", "Grace", "--confirm")
	if !strings.Contains(out, "confirmation sent to grace@example.com for daily") {
		t.Errorf("add --confirm: %q", out)
	}
	if _, errs, code := c.run("subscribers", "show", "grace@example.com"); code != 1 || !strings.Contains(errs, "unknown subscriber") {
		t.Errorf("a pending sign-up is already a subscriber: exit %d %s", code, errs)
	}
	// A second request within 10 minutes sends nothing.
	out = c.must("subscribers", "add", "grace@example.com", "--confirm")
	if !strings.Contains(out, "no confirmation sent to grace@example.com for daily: one went out in the last 10m0s (at most 3 a day)") {
		t.Errorf("second add --confirm: %q", out)
	}

	// import --confirm: the active row is imported as usual (its name
	// updated) and mailed nothing, the others one each.
	c.must("subscribers", "add", "active@example.com")
	file := c.writeFile("people.csv", "email,name\nada@example.com,Ada\nactive@example.com,Active\nbob@example.com,Bob\n")
	out = c.must("subscribers", "import", file, "--confirm")
	if !strings.Contains(out, "confirmations: 2 sent, 0 already active, 0 held back by the per-address limit, 0 failed") || !strings.Contains(out, "added 0, updated 1,") {
		t.Errorf("import --confirm: %q", out)
	}
	tokens := confirmationTokens(t, srv)
	if len(srv.Messages()) != 3 || len(tokens["grace@example.com"]) != 1 || len(tokens["ada@example.com"]) != 1 || len(tokens["bob@example.com"]) != 1 {
		t.Fatalf("confirmations received: %v; want one each to grace, ada and bob", tokens)
	}
	if c.rows("memberships") != 1 {
		t.Fatalf("%d memberships: --confirm activated someone", c.rows("memberships"))
	}

	// list --status pending, as a table and as JSON.
	out = c.must("subscribers", "list", "--status", "pending")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "EMAIL") || !strings.Contains(out, "grace@example.com  Grace") || !strings.Contains(out, "pending  import") {
		t.Errorf("list --status pending:\n%s", out)
	}
	var pending []struct {
		Email, Name, List, Source string
		ExpiresAt                 time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(c.must("subscribers", "list", "--status", "pending", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 || pending[0].List != "daily" || time.Until(pending[0].ExpiresAt) < 6*24*time.Hour {
		t.Errorf("pending --json: %+v", pending)
	}

	// Grace presses the button: active, with both events on record.
	_, subs := c.openStore()
	if _, err := subs.Confirm(context.Background(), tokens["grace@example.com"][0], "192.0.2.7", "Mozilla/5.0"); err != nil {
		t.Fatal(err)
	}
	out = c.must("subscribers", "show", "grace@example.com")
	for _, want := range []string{"consent records:", "AT", "ACTION", "SOURCE", "daily  signup ", " cli ", "daily  confirmed "} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var shown struct {
		Memberships []struct{ List, Status string }
		Consent     []subscribers.ConsentEvent
	}
	if err := json.Unmarshal([]byte(c.must("subscribers", "show", "grace@example.com", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Memberships) != 1 || shown.Memberships[0].Status != "active" || len(shown.Consent) != 2 ||
		shown.Consent[0].Action != subscribers.ActionSignup || shown.Consent[0].Source != subscribers.SourceCLI ||
		shown.Consent[1].Action != "confirmed" {
		t.Errorf("show --json: %+v", shown)
	}
	if left := c.must("subscribers", "list", "--status", "pending", "--json"); strings.Contains(left, "grace@") {
		t.Errorf("grace is still pending after confirming: %s", left)
	}

	// export --consent: every event as CSV, the header first.
	recs, err := csv.NewReader(strings.NewReader(c.must("subscribers", "export", "--consent"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "email,list,at,action,source,consent_version,detail,ip,user_agent" {
		t.Errorf("export --consent header: %v", recs[0])
	}
	byPerson := map[string][]string{}
	for _, r := range recs[1:] {
		byPerson[r[0]] = append(byPerson[r[0]], r[3]+"/"+r[4])
	}
	if got := strings.Join(byPerson["grace@example.com"], " "); got != "signup/cli confirmed/cli" {
		t.Errorf("grace's exported events %q, want signup/cli confirmed/cli", got)
	}
	if got := strings.Join(byPerson["active@example.com"], " "); got != "subscribed/cli" {
		t.Errorf("active's exported events %q, want subscribed/cli", got)
	}
	// Erasure takes the records with the person.
	c.must("subscribers", "remove", "grace@example.com")
	if strings.Contains(c.must("subscribers", "export", "--consent"), "grace@") {
		t.Error("remove left grace's consent records")
	}
}

func TestListsSignupWeeklyDayAndForm(t *testing.T) {
	c := newCLI(t)
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	out := c.must("lists", "create", "week", "--from", "The Week <week@example.com>", "--weekly-day", "Friday")
	for _, want := range []string{"signup          open (form at /subscribe/week)", "weekly day      fri ("} {
		if !strings.Contains(out, want) {
			t.Errorf("lists create prints no %q:\n%s", want, out)
		}
	}
	type listDoc struct {
		Name      string `json:"name"`
		Signup    string `json:"signup"`
		WeeklyDay any    `json:"weekly_day"`
	}
	var shown listDoc
	if err := json.Unmarshal([]byte(c.must("lists", "show", "week", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.WeeklyDay != "fri" || shown.Signup != "open" {
		t.Errorf("lists show --json: weekly_day %#v, signup %q; want \"fri\" and open", shown.WeeklyDay, shown.Signup)
	}
	var all []listDoc
	if err := json.Unmarshal([]byte(c.must("lists", "list", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	days := map[string]any{}
	for _, l := range all {
		days[l.Name] = l.WeeklyDay
	}
	if days["daily"] != "mon" || days["week"] != "fri" {
		t.Errorf("lists list --json weekly days %#v, want daily \"mon\" (the default) and week \"fri\"", days)
	}

	// The form snippet: a plain form to the daemon, no stamp, escaped.
	c.must("sections", "set", "World", "--title", `World & "Politics"`)
	form := c.must("lists", "form", "week")
	for _, want := range []string{`<form method="post" action="https://news.example.com/subscribe/week"`, `name="email"`,
		`<input type="checkbox" name="section" value="World"> World &amp; &#34;Politics&#34;`, "By subscribing you agree to receive week by email"} {
		if !strings.Contains(form, want) {
			t.Errorf("lists form lacks %q:\n%s", want, form)
		}
	}
	if strings.Contains(form, "<script") || strings.Contains(form, `name="ts"`) {
		t.Errorf("lists form carries a script or a stamp:\n%s", form)
	}

	out = c.must("lists", "update", "week", "--signup", "closed", "--weekly-day", "sun")
	if !strings.Contains(out, "signup          closed (/subscribe/week answers 404)") || !strings.Contains(out, "weekly day      sun (") {
		t.Errorf("lists update --signup closed --weekly-day sun:\n%s", out)
	}
	if _, errs, code := c.run("lists", "form", "week"); code != 1 || !strings.Contains(errs, "list week takes no sign-ups: open it with digest lists update week --signup open") {
		t.Errorf("lists form of a closed list: exit %d %s", code, errs)
	}
}

// TestPreviewAsShowsTheReadersVariant: preview --as shows the sections
// the reader chose, before the send (composed, nothing stored) and after
// it (the stored variant, unchanged by later curation); a weekly reader
// on another day is told which date to look at.
func TestPreviewAsShowsTheReadersVariant(t *testing.T) {
	c := newCLI(t)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.must("subscribers", "add", "econ@example.com")
	c.must("subscribers", "add", "weekly@example.com")
	// The weekly day is never today here, so the weekly reader gets nothing.
	c.must("lists", "update", "daily", "--weekly-day", subscribers.FormatWeekday(time.Now().UTC().AddDate(0, 0, 1).Weekday()))
	_, subs := c.openStore()
	ctx, ch := context.Background(), subscribers.Change{Source: subscribers.SourcePreferences}
	econ, _ := subs.Get(ctx, "econ@example.com")
	weekly, _ := subs.Get(ctx, "weekly@example.com")
	if err := subs.SetPrefs(ctx, econ.ID, "daily", []string{"economy"}, "daily", "", ch); err != nil {
		t.Fatal(err)
	}
	if err := subs.SetPrefs(ctx, weekly.ID, "daily", nil, "weekly", "", ch); err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		html, errs, code := c.run("preview", "--as", "econ@example.com")
		if code != 0 || !strings.Contains(errs, "econ@example.com gets the variant daily, economy") {
			t.Fatalf("%s: preview --as: exit %d, stderr %q", when, code, errs)
		}
		if !strings.Contains(html, "Markets &lt;script&gt;alert(1)&lt;/script&gt; rally") || strings.Contains(html, "Putin not ready") {
			t.Errorf("%s: the economy reader's preview shows other sections or misses Economy", when)
		}
	}
	check("before the send")
	if n := c.rows("edition_variants") + c.rows("editions"); n != 0 {
		t.Fatalf("preview --as stored %d rows", n)
	}
	c.must("send")
	if c.rows("edition_variants") != 1 {
		t.Fatalf("the send stored %d variants, want 1 (economy)", c.rows("edition_variants"))
	}
	// Hiding the story would leave a newly composed economy variant
	// empty; the stored one is what was sent, and what the preview shows.
	c.must("stories", "hide", itoa(c.storyIDs()["Markets <script>alert(1)</script> rally"]))
	check("after the send, its story hidden (the stored variant)")

	_, errs, code := c.run("preview", "--as", "weekly@example.com")
	if code != 1 || !strings.Contains(errs, "digest: weekly@example.com gets nothing of daily's edition for ") ||
		!strings.Contains(errs, "a weekly reader gets the weekly edition on") || !strings.Contains(errs, "(look at --date "+time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")+")") {
		t.Errorf("preview --as a weekly reader on another day: exit %d, %q", code, errs)
	}
}
