package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/store"
)

// rssOf is a feed whose items are dated relative to now, so that the
// next edition's window holds them.
func rssOf(now time.Time, items ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>https://wire.example.com/</link><description>d</description>`)
	for i, title := range items {
		fmt.Fprintf(&b, `<item><title>%s</title><link>https://wire.example.com/%d?utm_source=rss</link><guid>w%d</guid><pubDate>%s</pubDate><category>Tech</category><description>About %s.</description></item>`,
			title, i, i, now.Add(-time.Duration(i+1)*time.Minute).Format(time.RFC1123Z), strings.ToLower(title))
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

func TestFeedsCommands(t *testing.T) {
	var etagHits atomic.Int32
	body := rssOf(time.Now(), "Harbour reopens", "Council votes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"1"` {
			etagHits.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.URL.Path == "/broken" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("ETag", `"1"`)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c := newCLI(t)
	out := c.must("feeds", "add", srv.URL+"/rss", "--name", "Wire", "--category-map", "Tech=technology", "--allow-private")
	if !strings.Contains(out, "added feed 1: "+srv.URL+"/rss (rss, section by category: tech=technology, every adaptive)") {
		t.Errorf("add: %q", out)
	}
	out = c.must("feeds", "fetch")
	if !strings.Contains(out, "feed 1 (Wire): HTTP 200, new 2, updated 0, unchanged 0, skipped 0") {
		t.Errorf("fetch: %q", out)
	}
	out = c.must("feeds", "fetch", "1")
	if !strings.Contains(out, "feed 1 (Wire): HTTP 304, new 0, updated 0, unchanged 0, skipped 0 (not modified)") || etagHits.Load() != 1 {
		t.Errorf("second fetch: %q", out)
	}
	stories := c.must("stories", "list")
	if !strings.Contains(stories, "technology") || !strings.Contains(stories, "Harbour reopens") {
		t.Errorf("stories: %q", stories)
	}
	out = c.must("feeds", "list")
	if !strings.Contains(out, "LAST ERROR") || !strings.Contains(out, "304") || !strings.Contains(out, "Wire") {
		t.Errorf("list: %q", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(c.must("feeds", "list", "--json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v", err)
	}
	for _, k := range []string{"id", "name", "url", "section", "last_fetch", "last_status", "items_stored", "next_fetch", "errors_in_row", "last_error"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("list --json lacks %q: %v", k, list[0])
		}
	}
	if list[0]["items_stored"] != 2.0 || list[0]["last_status"] != 304.0 {
		t.Errorf("list --json: %v", list[0])
	}
	out = c.must("feeds", "update", "1", "--section", "World", "--every", "30m")
	if !strings.Contains(out, "updated feed 1") || !strings.Contains(out, "section World, every 30m0s") {
		t.Errorf("update: %q", out)
	}

	// A failing feed: exit 1, the reason on stdout, one line on stderr,
	// and the error shown in the list.
	c.must("feeds", "add", srv.URL+"/broken", "--allow-private")
	out, errs, code := c.run("feeds", "fetch", "2")
	if code != 1 || !strings.Contains(out, "feed 2: HTTP 500, failed: server answered 500 Internal Server Error") ||
		!strings.HasPrefix(errs, "digest: 1 of 1 feeds failed") {
		t.Errorf("failing fetch: %d %q %q", code, out, errs)
	}
	if out := c.must("feeds", "list"); !strings.Contains(out, "server answered 500") {
		t.Errorf("list does not show the last error: %q", out)
	}
	var res []map[string]any
	outJSON, _, _ := c.run("feeds", "fetch", "2", "--json")
	if err := json.Unmarshal([]byte(outJSON), &res); err != nil || res[0]["status"] != 500.0 {
		t.Errorf("fetch --json: %v %q", err, outJSON)
	}
	c.must("feeds", "remove", "2")
	if out := c.must("feeds", "list", "--json"); strings.Contains(out, "/broken") {
		t.Errorf("removed feed listed: %q", out)
	}
}

func TestFeedsBadInput(t *testing.T) {
	c := newCLI(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"feeds", "add", "ftp://example.com/feed"}, 2, `scheme "ftp" is not http or https`},
		{[]string{"feeds", "add", "javascript:alert(1)"}, 2, "is not http or https"},
		{[]string{"feeds", "add", "https://example.com/feed", "--every", "1m"}, 2, "--every \"1m\" is not a duration from 5m0s to 6h0m0s"},
		{[]string{"feeds", "add", "https://example.com/feed", "--category-map", "Politics"}, 2, "is not CATEGORY=SECTION"},
		{[]string{"feeds", "add", "https://example.com/feed", "--type", "atom"}, 2, `feed type "atom" is not rss or sitemap`},
		{[]string{"feeds", "update", "x"}, 2, "feed id \"x\" is not a number"},
		{[]string{"feeds", "update", "7", "--name", "n"}, 1, "feed 7: no such feed"},
		{[]string{"feeds", "update", "7"}, 2, "nothing to change"},
		{[]string{"feeds", "remove", "7"}, 1, "no such feed"},
		{[]string{"feeds", "fetch", "7"}, 1, "no such feed"},
		{[]string{"tokens", "revoke", "nobody"}, 1, "no such token"},
		{[]string{"tokens", "create", "bad name"}, 2, "token name"},
	} {
		out, errs, code := c.run(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, out, errs, tt.code, tt.want)
		}
	}
	c.must("feeds", "add", "https://example.com/feed")
	if _, errs, code := c.run("feeds", "add", "https://example.com/feed"); code != 1 || !strings.Contains(errs, "is feed 1") {
		t.Errorf("duplicate: %d %q", code, errs)
	}
	// Without --allow-private a feed on an internal address is refused
	// when added (a name that resolves inside is refused at dial time:
	// see the feeds package's guard tests), and nothing is stored.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the guard let a request through") }))
	defer srv.Close()
	for _, u := range []string{srv.URL + "/rss", "http://169.254.169.254/latest/meta-data", "http://[::1]/rss", "http://localhost/rss"} {
		out, errs, code := c.run("feeds", "add", u)
		if code != 2 || !strings.HasPrefix(errs, "digest: feed url ") || !strings.Contains(errs, "an internal address") ||
			!strings.Contains(errs, "--allow-private") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("add %s: exit %d, %q %q", u, code, out, errs)
		}
	}
	if out := c.must("feeds", "list", "--json"); strings.Count(out, `"id"`) != 1 {
		t.Errorf("an internal feed was stored: %s", out)
	}
	c.must("feeds", "add", srv.URL+"/rss", "--allow-private")
	if _, errs, code := c.run("feeds", "update", "2", "--allow-private=false"); code != 2 || !strings.Contains(errs, "an internal address") {
		t.Errorf("update --allow-private=false on a loopback feed: %d %q", code, errs)
	}
}

func TestTokensCommands(t *testing.T) {
	c := newCLI(t)
	out, errs, code := c.run("tokens", "create", "cms-prod")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "dgt_") || len(secret) != 4+43 || !strings.Contains(errs, "shown only now") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if _, errs, code := c.run("tokens", "create", "cms-prod"); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("second create: %d %q", code, errs)
	}
	list := c.must("tokens", "list")
	if !strings.Contains(list, "cms-prod") || strings.Contains(list, secret) {
		t.Errorf("list: %q", list)
	}
	db, err := store.Open(context.Background(), c.env["DIGEST_DB"])
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	db.QueryRow(`SELECT hash FROM api_tokens`).Scan(&stored)
	db.Close()
	if len(stored) != 32 || bytes.Contains(stored, []byte(secret)) {
		t.Errorf("stored %x", stored)
	}
	if out := c.must("tokens", "revoke", "cms-prod"); !strings.Contains(out, "revoked token cms-prod") {
		t.Errorf("revoke: %q", out)
	}
	if out := c.must("tokens", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list after revoke: %q", out)
	}
}

// The whole path: digest serve polls a feed, a CMS pushes a story through
// the API, and the next scheduled edition sends both to the subscriber.
func TestServeFeedAndPushBecomeTheNextEdition(t *testing.T) {
	now := time.Now()
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(rssOf(now, "Harbour reopens after storm", "Council backs new tram")))
	}))
	defer feed.Close()
	mailSrv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "reader@example.com")
	c.must("feeds", "add", feed.URL+"/rss", "--section", "Transport", "--allow-private")
	token := strings.TrimSpace(c.must("tokens", "create", "cms"))
	db, err := store.Open(context.Background(), c.env["DIGEST_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A schedule two minutes ahead: its latest fire was yesterday (skipped
	// as too old), so nothing is sent until the test moves it.
	zone := "UTC"
	if h := now.UTC().Hour(); h == 0 || h == 23 {
		zone = "Etc/GMT-6"
	}
	loc, _ := time.LoadLocation(zone)
	later := now.In(loc).Add(2 * time.Minute)
	if _, err := db.Exec(`UPDATE lists SET schedule = ?, timezone = ? WHERE name = 'daily'`,
		fmt.Sprintf("%d %d * * *", later.Minute(), later.Hour()), zone); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--http", "127.0.0.1:0", "--log-format", "json", "--reload", "1s", "--smtp", mailSrv.URL()},
			strings.NewReader(""), logs, logs, func(k string) string { return c.env[k] })
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d\n%s", code, logs)
		}
	}()
	count := func(q string) int {
		var n int
		db.QueryRow(q).Scan(&n)
		return n
	}
	waitUntil(t, "the feed's stories", logs, func() bool { return count(`SELECT COUNT(*) FROM stories`) == 2 })
	// The fetch is recorded just after its stories are stored.
	waitUntil(t, "the feed scheduled after its fetch", logs, func() bool {
		return count(`SELECT COUNT(*) FROM feeds WHERE last_status = 200 AND next_fetch_at > unixepoch()`) == 1
	})

	var addr string
	waitUntil(t, "the HTTP address", logs, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "serving HTTP" {
				addr, _ = rec["addr"].(string)
			}
		}
		return addr != ""
	})
	req, _ := http.NewRequest("POST", addr+"/api/stories", strings.NewReader(
		`{"section": "Economy", "title": "Port traffic doubles", "url": "https://cms.example.com/port", "published_at": "`+now.Add(-time.Minute).UTC().Format(time.RFC3339)+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("push: %v %v", resp, err)
	}
	resp.Body.Close()

	// Now the schedule fires (a minute ago: the next reload catches it up).
	fire := time.Now().In(loc).Add(-time.Minute)
	db.Exec(`UPDATE lists SET schedule = ? WHERE name = 'daily'`, fmt.Sprintf("%d %d * * *", fire.Minute(), fire.Hour()))
	waitUntil(t, "the edition to be sent", logs, func() bool { return len(mailSrv.Messages()) == 1 })
	msg, err := mail.ReadMessage(bytes.NewReader(mailSrv.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := parts(t, msg)
	for _, want := range []string{"Harbour reopens after storm", "Council backs new tram", "Port traffic doubles", "https://wire.example.com/0"} {
		if !strings.Contains(text, want) {
			t.Errorf("the edition lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "utm_source") {
		t.Errorf("a tracking parameter reached the edition:\n%s", text)
	}
}
