package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/tokens"
	"github.com/newsroom/digest/web"
)

// signupSite is a served database with the list daily (sections world,
// economy, sport) and a real SMTP server receiving the confirmations.
type signupSite struct {
	t    testing.TB
	ctx  context.Context
	db   *store.DB
	subs *subscribers.Store
	srv  *httptest.Server
	web  *web.Server
	smtp *smtptest.Server
}

func newSignupSite(t testing.TB, configure func(*web.Server)) *signupSite {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ss := &signupSite{t: t, ctx: ctx, db: db, subs: &subscribers.Store{DB: db}, smtp: smtptest.Start(t, nil)}
	for i, name := range []string{"world", "economy", "sport"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO sections (name, title, display_order, max_stories, created_at) VALUES (?, ?, ?, 3, 0)`,
			name, strings.ToUpper(name[:1])+name[1:], i); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := delivery.ParseSMTPURL(ss.smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	ss.web = &web.Server{Subs: ss.subs, Editions: &digest.Editions{DB: db},
		Confirmations: &delivery.Confirmations{Transport: func() (delivery.Transport, error) { return delivery.NewSMTP(cfg) }},
		Signup:        web.SignupSettings{BaseURL: "https://news.example.com", RecordIP: true, BlockedDomains: []string{"spam.test"}},
		API:           &web.API{Stories: &stories.Store{DB: db}, Tokens: &tokens.Store{DB: db}},
	}
	if configure != nil {
		configure(ss.web)
	}
	ss.srv = httptest.NewUnstartedServer(nil)
	if ss.web.Signup.BaseURL == "" {
		// Links in the mails point at this very server (the browser
		// test follows them).
		ss.web.Signup.BaseURL = "http://" + ss.srv.Listener.Addr().String()
	}
	ss.srv.Config.Handler = ss.web.Handler()
	ss.srv.Start()
	t.Cleanup(ss.srv.Close)
	return ss
}

var stampRE = regexp.MustCompile(`name="ts" value="([^"]+)"`)

// form fetches the sign-up form and returns its signed render time.
func (ss *signupSite) form() string {
	ss.t.Helper()
	res, body := ss.get("/subscribe/daily")
	if res.StatusCode != 200 {
		ss.t.Fatalf("GET /subscribe/daily: %d", res.StatusCode)
	}
	m := stampRE.FindStringSubmatch(body)
	if m == nil {
		ss.t.Fatalf("no render stamp in the form:\n%s", body)
	}
	return m[1]
}

func (ss *signupSite) get(path string) (*http.Response, string) {
	ss.t.Helper()
	res, err := http.Get(ss.srv.URL + path)
	if err != nil {
		ss.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (ss *signupSite) post(path, ctype, body string) (*http.Response, string) {
	ss.t.Helper()
	return ss.postWith(path, ctype, body, "User-Agent", "signup-test/1.0")
}

// postWith posts with extra headers, given as name, value pairs.
func (ss *signupSite) postWith(path, ctype, body string, header ...string) (*http.Response, string) {
	ss.t.Helper()
	req, _ := http.NewRequest("POST", ss.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ss.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// postJSON posts a JSON sign-up as a CMS does, with the bearer token
// (none when token is "").
func (ss *signupSite) postJSON(path, token, body string) (*http.Response, string) {
	ss.t.Helper()
	if token == "" {
		return ss.postWith(path, "application/json", body)
	}
	return ss.postWith(path, "application/json", body, "Authorization", "Bearer "+token)
}

// cmsToken makes a push-API token, as digest tokens create does.
func (ss *signupSite) cmsToken() string {
	ss.t.Helper()
	secret, err := (&tokens.Store{DB: ss.db}).Create(ss.ctx, "cms")
	if err != nil {
		ss.t.Fatal(err)
	}
	return secret
}

func (ss *signupSite) postForm(path string, v url.Values) (*http.Response, string) {
	return ss.post(path, "application/x-www-form-urlencoded", v.Encode())
}

// old makes a render stamp as a person leaves it: the form rendered a
// few seconds ago. The server signs stamps with the database's key, so a
// test reads the key and signs one as the form would.
func (ss *signupSite) humanStamp() string {
	ss.t.Helper()
	// Rendered now; the minimum age is lowered to 0 by the tests that
	// use this, so a real stamp from the real form serves.
	return ss.form()
}

// mails returns the confirmation mails received so far, after the
// server handed over every queued one.
func (ss *signupSite) mails() []smtptest.Message {
	ss.web.WaitConfirmations()
	return ss.smtp.Messages()
}

var linkRE = regexp.MustCompile(`https://news\.example\.com/confirm/([A-Za-z0-9_-]+)`)

func instant(s *web.Server) { s.Signup.MinFormAge = time.Nanosecond }

func TestSignupFullFlow(t *testing.T) {
	ss := newSignupSite(t, instant)
	res, body := ss.postForm("/subscribe/daily", url.Values{"email": {"Grace@Example.com"}, "name": {"Grace <b>Hopper</b> CALL 555-0100"},
		"section": {"economy", "sport"}, "ts": {ss.humanStamp()}})
	if res.StatusCode != 200 || !strings.Contains(body, "Check your inbox") {
		t.Fatalf("POST: %d\n%s", res.StatusCode, body)
	}
	msgs := ss.mails()
	if len(msgs) != 1 || !strings.EqualFold(msgs[0].To[0], "grace@example.com") {
		t.Fatalf("want one confirmation to grace@example.com, got %d: %+v", len(msgs), msgs)
	}
	raw := part(t, msgs[0].Data, "text/plain") + part(t, msgs[0].Data, "text/html")
	for _, userText := range []string{"Hopper", "555-0100", "<b>", "CALL"} {
		if strings.Contains(raw, userText) || bytes.Contains(msgs[0].Data, []byte(userText)) {
			t.Errorf("the confirmation carries text the person typed: %q", userText)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if from := m.Header.Get("From"); !strings.Contains(from, "digest@example.com") {
		t.Errorf("From %q: want the list's sender", from)
	}
	link := linkRE.FindStringSubmatch(raw)
	if link == nil {
		t.Fatalf("no confirmation link in:\n%s", raw)
	}
	token := link[1]
	if n := ss.count(`SELECT COUNT(*) FROM memberships`); n != 0 {
		t.Fatalf("a pending sign-up made %d memberships", n)
	}
	if n := ss.count(`SELECT COUNT(*) FROM signups WHERE token_hash = ?`, token); n != 0 {
		t.Error("the token is stored as it is, not hashed")
	}
	pending := 0
	ss.subs.EachPending(ss.ctx, "", func(subscribers.PendingSignup) error { pending++; return nil })
	if pending != 1 {
		t.Errorf("pending sign-ups: %d, want 1", pending)
	}

	// GET (a scanner's prefetch) changes nothing.
	for range 3 {
		res, body = ss.get("/confirm/" + token)
		if res.StatusCode != 200 || !strings.Contains(body, `<form method="post">`) {
			t.Fatalf("GET confirm: %d\n%s", res.StatusCode, body)
		}
	}
	if n := ss.count(`SELECT COUNT(*) FROM memberships`); n != 0 {
		t.Fatal("GET /confirm activated the membership")
	}
	res, body = ss.post("/confirm/"+token, "application/x-www-form-urlencoded", "")
	if res.StatusCode != 200 || !strings.Contains(body, "You are subscribed") {
		t.Fatalf("POST confirm: %d\n%s", res.StatusCode, body)
	}
	var status, sections string
	ss.db.QueryRowContext(ss.ctx, `SELECT m.status, m.sections FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = 'grace@example.com'`).Scan(&status, &sections)
	if status != "active" || sections != "economy,sport" {
		t.Errorf("membership %q sections %q, want active economy,sport", status, sections)
	}
	// Single use: the second POST gets the page offering a new sign-up.
	res, body = ss.post("/confirm/"+token, "application/x-www-form-urlencoded", "")
	if res.StatusCode != http.StatusGone || !strings.Contains(body, "subscribe/daily") {
		t.Errorf("reused token: %d\n%s", res.StatusCode, body)
	}
	d, err := ss.subs.Show(ss.ctx, "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range d.Consent {
		actions = append(actions, e.Action+"/"+e.Source)
		if e.ConsentVersion == "" || e.IP != "127.0.0.1" || e.UserAgent != "signup-test/1.0" {
			t.Errorf("consent record %+v: want version, IP and user agent", e)
		}
	}
	if got := strings.Join(actions, " "); got != "signup/form confirmed/form" {
		t.Errorf("consent records %q, want signup/form confirmed/form", got)
	}
	// Already active: no second confirmation, the same answer.
	_, again := ss.postForm("/subscribe/daily", url.Values{"email": {"grace@example.com"}, "ts": {ss.humanStamp()}})
	if !strings.Contains(again, "Check your inbox") || len(ss.mails()) != 1 {
		t.Errorf("an active address got another confirmation (%d mails)", len(ss.mails()))
	}
}

func (ss *signupSite) count(q string, args ...any) int {
	ss.t.Helper()
	var n int
	if err := ss.db.QueryRowContext(ss.ctx, q, args...).Scan(&n); err != nil {
		ss.t.Fatal(err)
	}
	return n
}

func TestTwentySignupsOfOneAddressSendOneConfirmation(t *testing.T) {
	ss := newSignupSite(t, func(s *web.Server) { instant(s); s.Signup.Burst = 100 })
	stamp := ss.humanStamp()
	for range 20 {
		res, _ := ss.postForm("/subscribe/daily", url.Values{"email": {"target@example.com"}, "ts": {stamp}})
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if n := len(ss.mails()); n != 1 {
		t.Errorf("20 sign-ups of one address sent %d confirmations, want 1", n)
	}
}

func TestBotsSendNothing(t *testing.T) {
	ss := newSignupSite(t, nil) // the real minimum age: 2 s
	good, _ := ss.postForm("/subscribe/daily", url.Values{"email": {"fast@example.com"}, "ts": {ss.form()}})
	_, honey := ss.postForm("/subscribe/daily", url.Values{"email": {"honey@example.com"}, "website": {"http://spam"}, "ts": {ss.form()}})
	_, forged := ss.postForm("/subscribe/daily", url.Values{"email": {"forged@example.com"}, "ts": {"1700000000.AAAAAAAAAAAAAAAAAAAAAAAA"}})
	_, blocked := ss.postForm("/subscribe/daily", url.Values{"email": {"x@mail.spam.test"}, "ts": {ss.form()}})
	if good.StatusCode != 200 || !strings.Contains(honey, "Check your inbox") || !strings.Contains(forged, "Check your inbox") || !strings.Contains(blocked, "Check your inbox") {
		t.Fatalf("bots must get the accepted answer")
	}
	if n := len(ss.mails()); n != 0 {
		t.Errorf("too fast, honeypot, forged stamp and blocked domain sent %d confirmations, want 0", n)
	}
	if n := ss.count(`SELECT COUNT(*) FROM signups`); n != 0 {
		t.Errorf("%d sign-ups stored for bots", n)
	}
}

func TestSignupAnswerIsTheSameForKnownAndUnknown(t *testing.T) {
	ss := newSignupSite(t, instant)
	if _, err := ss.subs.Add(ss.ctx, "known@example.com", "Known", "daily"); err != nil {
		t.Fatal(err)
	}
	stamp, token := ss.humanStamp(), ss.cmsToken()
	for _, ct := range []string{"form", "json"} {
		answer := func(addr string) string {
			if ct == "json" {
				_, b := ss.postJSON("/subscribe/daily", token, `{"email":"`+addr+`"}`)
				return b
			}
			_, b := ss.postForm("/subscribe/daily", url.Values{"email": {addr}, "ts": {stamp}})
			return b
		}
		known, unknown := answer("known@example.com"), answer("unknown-"+ct+"@example.com")
		if known != unknown {
			t.Errorf("%s: the answers differ:\nknown:   %q\nunknown: %q", ct, known, unknown)
		}
	}
}

// TestJSONSignupNeedsATokenOrAStamp: the JSON API is for a CMS posting
// server-side with a push-API token, or a widget in the reader's browser
// posting the form's stamp; a JSON body with neither is a bot's (the
// same answer, nothing sent), and a wrong token is told so.
func TestJSONSignupNeedsATokenOrAStamp(t *testing.T) {
	ss := newSignupSite(t, func(s *web.Server) { instant(s); s.Signup.Burst, s.Signup.Rate = 2, 1e-9 })
	token := ss.cmsToken()
	res, bare := ss.postJSON("/subscribe/daily", "", `{"email":"bare@example.com"}`)
	if res.StatusCode != http.StatusAccepted || !strings.Contains(bare, "check_inbox") {
		t.Fatalf("JSON without token or stamp: %d %s, want the accepted answer", res.StatusCode, bare)
	}
	if n := len(ss.mails()); n != 0 {
		t.Fatalf("JSON without token or stamp sent %d confirmations", n)
	}
	for _, bad := range []string{"Bearer dgt_not-a-token-at-all-000000000000", "Basic dXNlcjpwYXNz", "Bearer "} {
		res, _ := ss.postWith("/subscribe/daily", "application/json", `{"email":"bad@example.com"}`, "Authorization", bad)
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d, want 401 with WWW-Authenticate", bad, res.StatusCode)
		}
	}
	// A browser widget's JSON with the form's stamp and no token: the
	// client's second and last request of its budget.
	if res, _ := ss.postJSON("/subscribe/daily", "", `{"email":"widget@example.com","ts":"`+ss.humanStamp()+`"}`); res.StatusCode != http.StatusAccepted {
		t.Fatalf("JSON with the stamp: %d", res.StatusCode)
	}
	ss.postJSON("/subscribe/daily", "", `{"email":"over@example.com","ts":"`+ss.humanStamp()+`"}`) // over the budget: dropped
	// With the token: sent, and the per-client limit (spent by now) does
	// not hold back a CMS speaking for many readers.
	for _, addr := range []string{"cms1@example.com", "cms2@example.com", "cms3@example.com"} {
		if res, body := ss.postJSON("/subscribe/daily", token, `{"email":"`+addr+`","sections":["sport"]}`); res.StatusCode != http.StatusAccepted || body != bare {
			t.Fatalf("with the token: %d %s", res.StatusCode, body)
		}
	}
	got := map[string]bool{}
	for _, m := range ss.mails() {
		got[m.To[0]] = true
	}
	if len(got) != 4 || !got["cms1@example.com"] || !got["cms3@example.com"] || !got["widget@example.com"] || got["bare@example.com"] || got["over@example.com"] {
		t.Errorf("confirmations to %v, want cms1-3 and widget (not bare, not over the client's budget)", got)
	}
	var source string
	ss.db.QueryRowContext(ss.ctx, `SELECT source FROM signups WHERE email = 'cms2@example.com'`).Scan(&source)
	if source != subscribers.SourceAPI {
		t.Errorf("a CMS sign-up recorded source %q, want %q", source, subscribers.SourceAPI)
	}
}

func TestSignupBadInput(t *testing.T) {
	ss := newSignupSite(t, instant)
	res, body := ss.postForm("/subscribe/daily", url.Values{"email": {"not an address"}, "ts": {ss.humanStamp()}})
	if res.StatusCode != 400 || !strings.Contains(body, "valid email address") || !strings.Contains(body, `name="email"`) {
		t.Errorf("invalid address, form: %d\n%s", res.StatusCode, body)
	}
	res, body = ss.post("/subscribe/daily", "application/json", `{"email":"nope"}`)
	if res.StatusCode != 400 || !json.Valid([]byte(body)) {
		t.Errorf("invalid address, JSON: %d %s", res.StatusCode, body)
	}
	if res, _ := ss.get("/subscribe/nosuch"); res.StatusCode != 404 {
		t.Errorf("unknown list: %d", res.StatusCode)
	}
	if res, _ := ss.post("/subscribe/daily", "text/plain", "email=a@example.com"); res.StatusCode != 415 {
		t.Errorf("text/plain: %d, want 415", res.StatusCode)
	}
	if res, _ := ss.post("/subscribe/daily", "application/json", `{"email":"`+strings.Repeat("a", 20<<10)+`@example.com"}`); res.StatusCode != 413 {
		t.Errorf("a body over the cap: %d, want 413", res.StatusCode)
	}
	if _, err := ss.db.ExecContext(ss.ctx, `UPDATE lists SET signup = 'closed'`); err != nil {
		t.Fatal(err)
	}
	if res, _ := ss.get("/subscribe/daily"); res.StatusCode != 404 {
		t.Errorf("closed list: %d, want 404", res.StatusCode)
	}
	if res, _ := ss.get("/confirm/" + subscribers.NewToken()); res.StatusCode != 404 {
		t.Errorf("unknown token: %d", res.StatusCode)
	}
}

func TestUnsubscribedComesBackOnlyThroughConfirmation(t *testing.T) {
	ss := newSignupSite(t, instant)
	if _, err := ss.subs.Add(ss.ctx, "back@example.com", "", "daily"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.subs.Unsubscribe(ss.ctx, "back@example.com", "daily"); err != nil {
		t.Fatal(err)
	}
	ss.postForm("/subscribe/daily", url.Values{"email": {"back@example.com"}, "ts": {ss.humanStamp()}})
	msgs := ss.mails()
	if len(msgs) != 1 {
		t.Fatalf("%d confirmations, want 1", len(msgs))
	}
	if n := ss.count(`SELECT COUNT(*) FROM memberships WHERE status = 'active'`); n != 0 {
		t.Fatal("signing up again re-activated without confirmation")
	}
	token := linkRE.FindStringSubmatch(part(t, msgs[0].Data, "text/plain"))[1]
	ss.post("/confirm/"+token, "application/x-www-form-urlencoded", "")
	if n := ss.count(`SELECT COUNT(*) FROM memberships WHERE status = 'active'`); n != 1 {
		t.Fatal("the confirmation did not re-activate")
	}
}

// multipartForm is a form as a browser sends it with enctype multipart.
func multipartForm(v url.Values) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range v {
		for _, x := range vs {
			w.WriteField(k, x)
		}
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestPreferencePage(t *testing.T) {
	ss := newSignupSite(t, nil)
	sub, err := ss.subs.Add(ss.ctx, "reader@example.com", "", "daily")
	if err != nil {
		t.Fatal(err)
	}
	if sub.PrefToken == "" {
		t.Fatal("no preference token")
	}
	path := "/p/" + sub.PrefToken
	res, page := ss.get(path)
	if res.StatusCode != 200 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	// Without the CSRF token nothing changes.
	if res, _ := ss.postForm(path, url.Values{"action": {"save"}, "list": {"daily"}, "frequency": {"weekly"}}); res.StatusCode != 403 {
		t.Errorf("no CSRF token: %d, want 403", res.StatusCode)
	}
	ct, body := multipartForm(url.Values{"csrf": {csrf}, "action": {"save"}, "list": {"daily"}, "section": {"sport", "world"},
		"frequency": {"weekly"}, "paused_until": {"2030-01-02"}})
	res, page = ss.post(path, ct, body)
	if res.StatusCode != 200 || !strings.Contains(page, "Saved") {
		t.Fatalf("save: %d\n%s", res.StatusCode, page)
	}
	var sections, freq, paused string
	ss.db.QueryRowContext(ss.ctx, `SELECT sections, frequency, paused_until FROM memberships`).Scan(&sections, &freq, &paused)
	if sections != "sport,world" || freq != "weekly" || paused != "2030-01-02" {
		t.Errorf("stored %q %q %q", sections, freq, paused)
	}
	res, page = ss.postForm(path, url.Values{"csrf": {csrf}, "action": {"download"}})
	if res.Header.Get("Content-Type") != "application/json" || !strings.Contains(page, `"reader@example.com"`) || !strings.Contains(page, `"frequency": "weekly"`) {
		t.Errorf("download: %s\n%s", res.Header.Get("Content-Type"), page)
	}
	ss.postForm(path, url.Values{"csrf": {csrf}, "action": {"unsubscribe"}, "list": {"daily"}})
	if n := ss.count(`SELECT COUNT(*) FROM memberships WHERE status = 'unsubscribed'`); n != 1 {
		t.Error("unsubscribe from the page did not")
	}
	// Delete me: the first POST only asks.
	_, page = ss.postForm(path, url.Values{"csrf": {csrf}, "action": {"erase"}})
	if !strings.Contains(page, "erase-confirm") || ss.count(`SELECT COUNT(*) FROM subscribers`) != 1 {
		t.Fatal("erase did not ask first")
	}
	ss.postForm(path, url.Values{"csrf": {csrf}, "action": {"erase-confirm"}})
	if n := ss.count(`SELECT COUNT(*) FROM subscribers`) + ss.count(`SELECT COUNT(*) FROM consent_events`); n != 0 {
		t.Errorf("erasure left %d rows", n)
	}
	if res, _ := ss.get(path); res.StatusCode != 404 {
		t.Errorf("after erasure: %d", res.StatusCode)
	}
}

// TestPreferencesShapeTheNextEdition: a reader who chose sections gets
// an edition with exactly those, read from the MIME parts received; two
// readers with different choices cost two composed variants.
func TestPreferencesShapeTheNextEdition(t *testing.T) {
	ss := newSignupSite(t, nil)
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC) // a Wednesday
	st := &stories.Store{DB: ss.db, Now: func() time.Time { return now }}
	for _, s := range []struct{ sec, title string }{{"world", "World news"}, {"economy", "Economy news"}, {"sport", "Sport news"}} {
		if err := st.Add(ss.ctx, &stories.Story{Section: s.sec, Title: s.title, URL: "https://news.example.com/" + s.sec, PublishedAt: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := ss.subs.Add(ss.ctx, "a@example.com", "", "daily")
	b, _ := ss.subs.Add(ss.ctx, "b@example.com", "", "daily")
	ss.subs.Add(ss.ctx, "c@example.com", "", "daily")
	if err := ss.subs.SetPrefs(ss.ctx, a.ID, "daily", []string{"economy"}, "daily", "", subscribers.Change{Source: subscribers.SourcePreferences}); err != nil {
		t.Fatal(err)
	}
	if err := ss.subs.SetPrefs(ss.ctx, b.ID, "daily", []string{"sport", "world"}, "daily", "", subscribers.Change{Source: subscribers.SourcePreferences}); err != nil {
		t.Fatal(err)
	}
	eds := &digest.Editions{DB: ss.db, Now: func() time.Time { return now }}
	list, _ := ss.subs.GetList(ss.ctx, "daily")
	ed, _, err := eds.Build(ss.ctx, digest.Composer{}, list, "", false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := delivery.ParseSMTPURL(ss.smtp.URL())
	tr, _ := delivery.NewSMTP(cfg)
	defer tr.Close()
	sender := &delivery.Sender{DB: ss.db, Transport: tr, Now: func() time.Time { return now }, Concurrency: 1,
		Variants: func(ctx context.Context, ed digest.Edition, l subscribers.List) (*digest.Variants, error) {
			return eds.PrepareVariants(ctx, digest.Composer{}, ed, l)
		}}
	sum, err := sender.Send(ss.ctx, ed, list)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 3 || sum.Composed != 2 {
		t.Errorf("sent %d, composed %d variants; want 3 and 2 (one per distinct section set besides the edition)", sum.Sent, sum.Composed)
	}
	want := map[string][]string{"a@example.com": {"Economy news"}, "b@example.com": {"Sport news", "World news"}, "c@example.com": {"Economy news", "Sport news", "World news"}}
	for _, m := range ss.smtp.Messages() {
		html := part(t, m.Data, "text/html")
		var got []string
		for _, title := range []string{"Economy news", "Sport news", "World news"} {
			if strings.Contains(html, title) {
				got = append(got, title)
			}
		}
		if strings.Join(got, ",") != strings.Join(want[m.To[0]], ",") {
			t.Errorf("%s got sections %v, want %v", m.To[0], got, want[m.To[0]])
		}
		if !strings.Contains(html, "https://news.example.com/p/") && !strings.Contains(html, "/p/") {
			t.Errorf("%s: no preference link in the footer", m.To[0])
		}
	}
	if n := ss.count(`SELECT COUNT(*) FROM edition_variants WHERE edition_id = ?`, ed.ID); n != 2 {
		t.Errorf("%d stored variants, want 2", n)
	}
}

// part returns a received message's part of the media type, decoded.
func part(t *testing.T, raw []byte, media string) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no %s part", media)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), media) {
			b, _ := io.ReadAll(p) // multipart.Reader decodes quoted-printable
			return string(b)
		}
	}
}

// TestWeeklyAndPausedReadersOverAWeek sends a daily list for seven days:
// the weekly reader gets one message, on the weekly day (Monday), with
// the week's stories; the paused reader nothing before the date.
func TestWeeklyAndPausedReadersOverAWeek(t *testing.T) {
	ss := newSignupSite(t, nil)
	daily, _ := ss.subs.Add(ss.ctx, "daily@example.com", "", "daily")
	weekly, _ := ss.subs.Add(ss.ctx, "weekly@example.com", "", "daily")
	paused, _ := ss.subs.Add(ss.ctx, "paused@example.com", "", "daily")
	_ = daily
	ch := subscribers.Change{Source: subscribers.SourcePreferences}
	if err := ss.subs.SetPrefs(ss.ctx, weekly.ID, "daily", nil, "weekly", "", ch); err != nil {
		t.Fatal(err)
	}
	if err := ss.subs.SetPrefs(ss.ctx, paused.ID, "daily", nil, "daily", "2026-11-28", ch); err != nil {
		t.Fatal(err)
	}
	list, _ := ss.subs.GetList(ss.ctx, "daily")
	cfg, _ := delivery.ParseSMTPURL(ss.smtp.URL())
	tr, _ := delivery.NewSMTP(cfg)
	defer tr.Close()
	secs := []string{"world", "economy", "sport"}
	var titles []string
	for i := range 7 {
		now := time.Date(2026, 11, 24+i, 6, 0, 0, 0, time.UTC) // Tuesday 24 to Monday 30
		clock := func() time.Time { return now }
		title := "Story of " + now.Format("Mon 2")
		titles = append(titles, title)
		st := &stories.Store{DB: ss.db, Now: clock}
		if err := st.Add(ss.ctx, &stories.Story{Section: secs[i%3], Title: title, URL: "https://news.example.com/" + now.Format("2006-01-02"), PublishedAt: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		eds := &digest.Editions{DB: ss.db, Now: clock}
		ed, _, err := eds.Build(ss.ctx, digest.Composer{}, list, "", false)
		if err != nil {
			t.Fatal(err)
		}
		s := &delivery.Sender{DB: ss.db, Transport: tr, Now: clock, Concurrency: 1,
			Variants: func(ctx context.Context, ed digest.Edition, l subscribers.List) (*digest.Variants, error) {
				return eds.PrepareVariants(ctx, digest.Composer{}, ed, l)
			}}
		if _, err := s.Send(ss.ctx, ed, list); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	var weeklyHTML string
	for _, m := range ss.smtp.Messages() {
		got[m.To[0]]++
		if m.To[0] == "weekly@example.com" {
			weeklyHTML = part(t, m.Data, "text/html")
		}
	}
	if got["daily@example.com"] != 7 || got["weekly@example.com"] != 1 || got["paused@example.com"] != 3 {
		t.Errorf("messages per reader %v: want daily 7, weekly 1 (Monday), paused 3 (from the 28th)", got)
	}
	for _, title := range titles {
		if !strings.Contains(weeklyHTML, title) {
			t.Errorf("the weekly edition lacks %q", title)
		}
	}
	if !strings.Contains(weeklyHTML, "weekly") {
		t.Error("the weekly edition does not say it is the weekly one")
	}
}

// The preference page's data download carries the delivery records the
// daemon reads from the ledger (web does not link the engine, so serve
// hands the reader in).
func TestPreferenceDownloadCarriesDeliveries(t *testing.T) {
	var asked int64
	ss := newSignupSite(t, func(s *web.Server) {
		s.Deliveries = func(_ context.Context, id int64) ([]subscribers.DeliveryRecord, error) {
			asked = id
			return []subscribers.DeliveryRecord{{List: "daily", Date: "2026-11-30", Subject: "Monday's digest", Status: "sent"}}, nil
		}
	})
	sub, err := ss.subs.Add(ss.ctx, "reader@example.com", "", "daily")
	if err != nil {
		t.Fatal(err)
	}
	path := "/p/" + sub.PrefToken
	_, page := ss.get(path)
	csrf := csrfRE.FindStringSubmatch(page)[1]
	_, page = ss.postForm(path, url.Values{"csrf": {csrf}, "action": {"download"}})
	if asked != sub.ID || !strings.Contains(page, `"Monday's digest"`) {
		t.Errorf("download asked for subscriber %d (want %d):\n%s", asked, sub.ID, page)
	}
}
