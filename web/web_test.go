package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
	"github.com/newsroom/digest/web"
)

type site struct {
	t    *testing.T
	ctx  context.Context
	db   *store.DB
	subs *subscribers.Store
	eds  *digest.Editions
	m    *metrics.Metrics
	srv  *httptest.Server
	ada  subscribers.Subscriber
}

// newSite serves a database holding Ada on the lists daily and weekly.
func newSite(t *testing.T, configure func(*web.Server)) *site {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	var err error
	s := &site{t: t, ctx: ctx, db: db, subs: &subscribers.Store{DB: db}, eds: &digest.Editions{DB: db}, m: metrics.New()}
	if _, err := db.ExecContext(ctx, `INSERT INTO lists (name, title, from_addr, created_at, updated_at) VALUES ('weekly', 'The Weekly Review', 'w@example.com', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	s.ada, err = s.subs.Add(ctx, "ada@example.com", "Ada Lovelace", "daily", "weekly")
	if err != nil {
		t.Fatal(err)
	}
	ws := &web.Server{Subs: s.subs, Editions: s.eds, Metrics: s.m}
	if configure != nil {
		configure(ws)
	}
	s.srv = httptest.NewServer(ws.Handler())
	t.Cleanup(s.srv.Close)
	return s
}

// statuses reads Ada's memberships from the database, not through the
// code under test.
func (s *site) statuses() string {
	s.t.Helper()
	rows, err := s.db.QueryContext(s.ctx, `SELECT l.name, m.status FROM memberships m JOIN lists l ON l.id = m.list_id WHERE m.subscriber_id = ? ORDER BY l.name`, s.ada.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l, st string
		rows.Scan(&l, &st)
		out = append(out, l+"="+st)
	}
	return strings.Join(out, " ")
}

const bothActive = "daily=active weekly=active"

func (s *site) do(method, path, contentType string, body io.Reader, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *site) oneClick(path string) (*http.Response, string) {
	return s.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
}

func (s *site) link(list string) string {
	u := "/u/" + s.ada.Token
	if list != "" {
		u += "?list=" + list
	}
	return u
}

func TestUnsubscribePageNeverUnsubscribes(t *testing.T) {
	s := newSite(t, nil)
	for _, method := range []string{"GET", "HEAD", "GET"} {
		resp, body := s.do(method, s.link("daily"), "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", method, resp.StatusCode)
		}
		if method == "GET" {
			for _, want := range []string{"Unsubscribe from The Daily Digest?", `<form method="post">`, `name="List-Unsubscribe" value="One-Click"`} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s:\n%s", want, body)
				}
			}
			if strings.Contains(body, "ada@example.com") || strings.Contains(body, s.ada.Token) {
				t.Error("the page shows the address or the token")
			}
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q", got)
		}
	}
	if got := s.statuses(); got != bothActive {
		t.Fatalf("GET changed memberships: %s", got)
	}
}

func TestOneClickPost(t *testing.T) {
	s := newSite(t, nil)
	resp, body := s.oneClick(s.link("daily"))
	if resp.StatusCode != 200 || !strings.Contains(body, "You are unsubscribed") {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	if len(resp.Cookies()) > 0 || resp.Header.Get("Location") != "" || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("one-click answer sets a cookie or redirects: %v", resp.Header)
	}
	if got := s.statuses(); got != "daily=unsubscribed weekly=active" {
		t.Fatalf("after one-click on daily: %s", got)
	}
	// Clicking again is fine and changes nothing.
	if resp, _ := s.oneClick(s.link("daily")); resp.StatusCode != 200 || s.statuses() != "daily=unsubscribed weekly=active" {
		t.Fatalf("second one-click: %d, %s", resp.StatusCode, s.statuses())
	}
	// The page now offers to resubscribe, and that works.
	_, body = s.do("GET", s.link("daily"), "", nil)
	if !strings.Contains(body, "already unsubscribed") || !strings.Contains(body, `value="resubscribe"`) {
		t.Fatalf("page after unsubscribing:\n%s", body)
	}
	resp, body = s.do("POST", s.link("daily"), "application/x-www-form-urlencoded", strings.NewReader("action=resubscribe"))
	if resp.StatusCode != 200 || !strings.Contains(body, "subscribed to The Daily Digest again") || s.statuses() != bothActive {
		t.Fatalf("resubscribe: %d, %s\n%s", resp.StatusCode, s.statuses(), body)
	}
	if got := testutilCounter(t, s, "digest_unsubscribes_total"); got != "2" {
		t.Errorf("digest_unsubscribes_total %s, want 2", got)
	}
}

func TestOneClickMultipartAndAllLists(t *testing.T) {
	s := newSite(t, nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("List-Unsubscribe", "One-Click")
	mw.Close()
	resp, _ := s.do("POST", s.link(""), mw.FormDataContentType(), &buf)
	if resp.StatusCode != 200 {
		t.Fatalf("multipart one-click: status %d", resp.StatusCode)
	}
	if got := s.statuses(); got != "daily=unsubscribed weekly=unsubscribed" {
		t.Fatalf("a link without ?list ends every membership: %s", got)
	}
}

func TestUnknownTokenReveals404AndNothingElse(t *testing.T) {
	s := newSite(t, nil)
	unknown := strings.Repeat("A", len(s.ada.Token))
	paths := []string{
		"/u/" + unknown,
		"/u/" + unknown + "?list=daily",
		"/u/not-a-token",
		"/u/" + strings.Repeat("A", 500),
		"/u/" + url.PathEscape("<script>alert(1)</script>"),
		s.link("nope"), // Ada's token, a list she is not on
	}
	var first string
	for _, p := range paths {
		for _, method := range []string{"GET", "POST"} {
			var resp *http.Response
			var body string
			if method == "GET" {
				resp, body = s.do("GET", p, "", nil)
			} else {
				resp, body = s.oneClick(p)
			}
			if resp.StatusCode != 404 {
				t.Errorf("%s %s: status %d, want 404", method, p, resp.StatusCode)
			}
			if first == "" {
				first = body
			} else if body != first {
				t.Errorf("%s %s: the 404 page differs from the others:\n%s", method, p, body)
			}
		}
	}
	if got := s.statuses(); got != bothActive {
		t.Fatalf("memberships changed: %s", got)
	}
}

func TestBadPostsAreRefusedWithoutEffect(t *testing.T) {
	s := newSite(t, nil)
	huge := "List-Unsubscribe=One-Click&pad=" + strings.Repeat("x", 1<<20)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("List-Unsubscribe", "One-Click")
	fw, _ := mw.CreateFormFile("file", "big.bin")
	fw.Write(bytes.Repeat([]byte("y"), 1<<20))
	mw.Close()
	tests := []struct {
		name, contentType string
		body              io.Reader
		status            int
	}{
		{"huge urlencoded body", "application/x-www-form-urlencoded", strings.NewReader(huge), http.StatusRequestEntityTooLarge},
		{"huge multipart body", mw.FormDataContentType(), &mp, http.StatusRequestEntityTooLarge},
		{"json", "application/json", strings.NewReader(`{"List-Unsubscribe":"One-Click"}`), http.StatusUnsupportedMediaType},
		{"plain text", "text/plain", strings.NewReader("List-Unsubscribe=One-Click"), http.StatusUnsupportedMediaType},
		{"no content type", "", strings.NewReader("List-Unsubscribe=One-Click"), http.StatusUnsupportedMediaType},
		{"empty form", "application/x-www-form-urlencoded", strings.NewReader(""), http.StatusBadRequest},
		{"wrong value", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=Two-Clicks"), http.StatusBadRequest},
		{"broken multipart", "multipart/form-data; boundary=zzz", strings.NewReader("--zzz\r\nbroken"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, _ := s.do("POST", s.link("daily"), tt.contentType, tt.body)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if got := s.statuses(); got != bothActive {
			t.Fatalf("%s changed memberships: %s", tt.name, got)
		}
	}
	if resp, _ := s.do("PUT", s.link("daily"), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: status %d, want 405", resp.StatusCode)
	}
}

func TestUnsubscribeIsRateLimitedPerClient(t *testing.T) {
	s := newSite(t, func(w *web.Server) {
		w.UnsubscribeRate, w.UnsubscribeBurst = rate.Every(time.Hour), 3
		w.TrustForwardedFor = true
	})
	for i := range 3 {
		if resp, _ := s.do("GET", s.link("daily"), "", nil, "X-Forwarded-For", "203.0.113.7"); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
		}
	}
	resp, _ := s.oneClick(s.link("daily") + "") // no header: the proxy's address, another client
	if resp.StatusCode != 200 {
		t.Fatalf("another client was limited too: %d", resp.StatusCode)
	}
	resp, _ = s.do("POST", s.link("weekly"), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"), "X-Forwarded-For", "198.51.100.1, 203.0.113.7")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth request of a client: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := s.statuses(); got != "daily=unsubscribed weekly=active" {
		t.Fatalf("a limited request had an effect: %s", got)
	}
}

func TestForwardedForIsIgnoredUnlessTrusted(t *testing.T) {
	s := newSite(t, func(w *web.Server) { w.UnsubscribeRate, w.UnsubscribeBurst = rate.Every(time.Hour), 2 })
	codes := []int{}
	for i := range 3 {
		resp, _ := s.do("GET", s.link("daily"), "", nil, "X-Forwarded-For", "192.0.2."+string(rune('1'+i)))
		codes = append(codes, resp.StatusCode)
	}
	if codes[2] != http.StatusTooManyRequests {
		t.Fatalf("a forged X-Forwarded-For escaped the limit: %v", codes)
	}
}

// sendEdition builds and sends the list's edition for today to the outbox.
func (s *site) sendEdition(listName string) digest.Edition {
	s.t.Helper()
	list, err := s.subs.GetList(s.ctx, listName)
	if err != nil {
		s.t.Fatal(err)
	}
	ed, _, err := s.eds.Build(s.ctx, digest.Composer{BaseURL: "https://news.example.com"}, list, "", false)
	if err != nil {
		s.t.Fatal(err)
	}
	sender := &delivery.Sender{DB: s.db, Transport: delivery.Outbox{Dir: s.t.TempDir()}, BaseURL: "https://news.example.com"}
	if sum, err := sender.Send(s.ctx, ed, list); err != nil || sum.Sent != 1 {
		s.t.Fatalf("send: %+v, %v", sum, err)
	}
	return ed
}

func TestArchiveShowsSentEditionsWithoutPersonalData(t *testing.T) {
	s := newSite(t, nil)
	st := stories.Story{Section: "World", Title: "Archive <b>headline</b>", URL: "https://news.example.com/a", PublishedAt: time.Now().Add(-time.Hour).Truncate(time.Second)}
	if err := (&stories.Store{DB: s.db}).Add(s.ctx, &st); err != nil {
		t.Fatal(err)
	}
	ed := s.sendEdition("daily")
	// The weekly list's edition is built but not sent: not public.
	weekly, _ := s.subs.GetList(s.ctx, "weekly")
	if _, _, err := s.eds.Build(s.ctx, digest.Composer{}, weekly, "", false); err != nil {
		t.Fatal(err)
	}

	resp, body := s.do("GET", "/archive/daily", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `href="daily/`+ed.Date+`"`) || !strings.Contains(body, "Archive &lt;b&gt;headline&lt;/b&gt;") {
		t.Fatalf("index: %d\n%s", resp.StatusCode, body)
	}
	resp, body = s.do("GET", "/archive/daily/"+ed.Date, "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Archive &lt;b&gt;headline&lt;/b&gt;") {
		t.Fatalf("edition: %d\n%s", resp.StatusCode, body)
	}
	for _, personal := range []string{s.ada.Token, "ada@example.com", "Ada", "Lovelace", "[[digest:", "/u/"} {
		if strings.Contains(body, personal) {
			t.Errorf("the archived edition contains %q", personal)
		}
	}
	if !strings.Contains(body, "Here are today&#39;s top stories.") && !strings.Contains(body, "Here are today's top stories.") {
		t.Error("the greeting placeholder was not filled with the neutral greeting")
	}
	if !strings.Contains(body, `href="../../unsubscribe"`) {
		t.Error("the footer's unsubscribe link does not point at the help page")
	}
	if resp, body := s.do("GET", "/unsubscribe", "", nil); resp.StatusCode != 200 || !strings.Contains(body, "Unsubscribe link") {
		t.Errorf("help page: %d", resp.StatusCode)
	}

	for _, p := range []string{"/archive/nope", "/archive/nope/" + ed.Date, "/archive/daily/2001-01-01", "/archive/daily/yesterday",
		"/archive/weekly/" + ed.Date, "/archive/daily/" + ed.Date + "/x"} {
		if resp, _ := s.do("GET", p, "", nil); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
	if _, body := s.do("GET", "/archive/weekly", "", nil); !strings.Contains(body, "No edition has been sent yet") {
		t.Errorf("an unsent edition is listed:\n%s", body)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	s := newSite(t, func(w *web.Server) { w.Sending = func() bool { return true } })
	resp, body := s.do("GET", "/healthz", "", nil)
	var h map[string]any
	if err := json.Unmarshal([]byte(body), &h); err != nil || resp.StatusCode != 200 || h["status"] != "ok" || h["sending"] != true {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	s.m.InitList("daily")
	resp, body = s.do("GET", "/metrics", "", nil)
	for _, want := range []string{"digest_messages_sent_total{list=\"daily\"} 0", "digest_editions_built_total", "digest_unsubscribes_total 0", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	s.db.Close()
	if resp, _ := s.do("GET", "/healthz", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("healthz with a closed database: %d, want 503", resp.StatusCode)
	}
}

// testutilCounter reads one unlabelled metric from /metrics.
func testutilCounter(t *testing.T, s *site, name string) string {
	t.Helper()
	_, body := s.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestPagesCarryTheBrand checks that the unsubscribe confirmation and the
// archive show the list's title and the newsroom's name, link and
// accent colour, not the generic red button.
func TestPagesCarryTheBrand(t *testing.T) {
	s := newSite(t, func(ws *web.Server) {
		ws.Brand = templates.Brand{Name: "Springfield Shopper", Link: "https://shopper.example.com/", Accent: "#0b5394"}
	})
	for _, tc := range []struct{ path, title string }{
		{s.link("weekly"), "Unsubscribe from The Weekly Review?"},
		{"/archive/weekly", "The Weekly Review: archive"},
	} {
		resp, body := s.do("GET", tc.path, "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.path, resp.StatusCode)
		}
		for _, want := range []string{tc.title, "<title>", "Springfield Shopper</title>", `<a href="https://shopper.example.com/">Springfield Shopper</a>`, "background: #0b5394"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q:\n%s", tc.path, want, body)
			}
		}
		if strings.Contains(body, templates.DefaultBrand.Accent) {
			t.Errorf("%s still shows the default accent %s", tc.path, templates.DefaultBrand.Accent)
		}
	}
	// Without a brand the defaults show, unlinked.
	s = newSite(t, nil)
	if _, body := s.do("GET", "/archive/weekly", "", nil); !strings.Contains(body, "<header>"+templates.DefaultBrand.Name+"</header>") || !strings.Contains(body, templates.DefaultBrand.Accent) {
		t.Errorf("default brand missing:\n%s", body)
	}
}

// A one-click unsubscribe that finds the database's write lock held by
// another process for longer than UnsubscribeWait is not refused: it is
// journalled, answered 200, and written once the lock is free.
func TestOneClickWhileDatabaseIsLockedIsJournalledAndHonoured(t *testing.T) {
	var ws *web.Server
	journal := &subscribers.Journal{Path: filepath.Join(t.TempDir(), "digest.db-unsubscribes")}
	s := newSite(t, func(w *web.Server) { w.Journal = journal; ws = w })
	// Another writer holds the lock (a long transaction elsewhere).
	conn, err := s.db.Conn(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(s.ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	resp, body := s.oneClick("/u/" + s.ada.Token + "?list=daily")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "nsubscribed") {
		t.Fatalf("POST while locked: %d %s", resp.StatusCode, body)
	}
	if got := s.statuses(); got != bothActive {
		t.Fatalf("written through a held lock? %s", got)
	}
	if _, err := os.Stat(journal.Path); err != nil {
		t.Fatalf("no journal: %v", err)
	}
	if _, err := conn.ExecContext(s.ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { ws.KeepJournal(ctx, 10*time.Millisecond); close(done) }()
	storetest.WaitUntil(t, "the journalled unsubscribe to be written", func() bool { return s.statuses() == "daily=unsubscribed weekly=active" }, s.statuses)
	cancel()
	<-done
	if fi, err := os.Stat(journal.Path); err != nil || fi.Size() != 0 {
		t.Errorf("journal after applying: %v %v", fi, err)
	}
}

// A long read (here a dry-run import paused in the middle of its file)
// does not block an unsubscribe: it is written at once.
func TestOneClickNextToALongReadIsWrittenAtOnce(t *testing.T) {
	s := newSite(t, nil)
	paused, resume := make(chan struct{}), make(chan struct{})
	var body strings.Builder
	body.WriteString("email\n")
	for i := range 300 {
		if i == 280 {
			body.WriteString("bad\n")
		}
		fmt.Fprintf(&body, "r%d@example.com\n", i)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.subs.Import(s.ctx, strings.NewReader(body.String()), subscribers.ImportOptions{DryRun: true, Report: func(subscribers.RowReport) {
			close(paused)
			<-resume
		}})
		done <- err
	}()
	<-paused
	resp, _ := s.oneClick("/u/" + s.ada.Token + "?list=daily")
	close(resume)
	if resp.StatusCode != http.StatusOK || s.statuses() != "daily=unsubscribed weekly=active" {
		t.Fatalf("POST next to a dry run: %d, %s", resp.StatusCode, s.statuses())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
