package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/feeds"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/tokens"
	"github.com/newsroom/digest/web"
)

type apiSite struct {
	t     *testing.T
	db    *store.DB
	srv   *httptest.Server
	token string
}

func newAPISite(t *testing.T, maxBody int64) *apiSite {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	toks := &tokens.Store{DB: db}
	secret, err := toks.Create(ctx, "cms")
	if err != nil {
		t.Fatal(err)
	}
	ws := &web.Server{Subs: &subscribers.Store{DB: db}, Editions: &digest.Editions{DB: db},
		API: &web.API{Stories: &stories.Store{DB: db}, Tokens: toks, MaxBody: maxBody}}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	return &apiSite{t: t, db: db, srv: srv, token: secret}
}

func (s *apiSite) do(method, path, token, contentType, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("%s %s: %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (s *apiSite) count() int {
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM stories`).Scan(&n)
	return n
}

// hidden says whether the story stored under url is hidden.
func (s *apiSite) hidden(url string) bool {
	var h bool
	s.db.QueryRow(`SELECT hidden FROM stories WHERE url = ?`, url).Scan(&h)
	return h
}

const twoStories = `[
 {"section": "Americas", "title": "First", "url": "https://news.example.com/1", "teaser": "One.", "published_at": "2026-11-28T05:00:00Z"},
 {"section": "Economy", "title": "Second", "url": "https://news.example.com/2", "score": 2}
]`

func TestAPIPostStories(t *testing.T) {
	s := newAPISite(t, 0)
	code, body := s.do("POST", "/api/stories", s.token, "application/json; charset=utf-8", twoStories)
	if code != 201 || len(body["ids"].([]any)) != 2 || s.count() != 2 {
		t.Fatalf("array: %d %v, %d stored", code, body, s.count())
	}
	// One object; the same URL again updates, so the id is the same.
	code, body = s.do("POST", "/api/stories", s.token, "application/json",
		`{"section": "Americas", "title": "First, updated", "url": "https://news.example.com/1"}`)
	if code != 201 || body["ids"].([]any)[0].(float64) != 1 || s.count() != 2 {
		t.Fatalf("object: %d %v", code, body)
	}
	var title string
	s.db.QueryRow(`SELECT title FROM stories WHERE id = 1`).Scan(&title)
	if title != "First, updated" {
		t.Errorf("title %q", title)
	}
}

func TestAPIRefusesBadTokens(t *testing.T) {
	s := newAPISite(t, 0)
	for name, token := range map[string]string{"missing": "", "wrong": "dgt_" + strings.Repeat("A", 43), "prefix only": "dgt_"} {
		code, body := s.do("POST", "/api/stories", token, "application/json", twoStories)
		if code != 401 || body["error"] == nil {
			t.Errorf("%s token: %d %v", name, code, body)
		}
	}
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/stories", strings.NewReader(twoStories))
	req.Header.Set("Authorization", "Basic "+s.token)
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("basic scheme: %d", resp.StatusCode)
	}
	if code, _ := s.do("DELETE", "/api/stories?url=https://news.example.com/1", "", "", ""); code != 401 {
		t.Errorf("DELETE without a token: %d", code)
	}
	if s.count() != 0 {
		t.Errorf("%d stories stored without a valid token", s.count())
	}
	// A revoked token fails at once.
	(&tokens.Store{DB: s.db}).Revoke(context.Background(), "cms")
	if code, _ := s.do("POST", "/api/stories", s.token, "application/json", twoStories); code != 401 {
		t.Errorf("revoked token: %d", code)
	}
}

func TestAPIBadItemsStoreNothing(t *testing.T) {
	s := newAPISite(t, 0)
	code, body := s.do("POST", "/api/stories", s.token, "application/json", `[
	 {"section": "Americas", "title": "Good", "url": "https://news.example.com/good"},
	 {"section": "Americas", "title": "", "url": "https://news.example.com/untitled"},
	 {"section": "Americas", "title": "Script", "url": "javascript:alert(1)"},
	 {"section": "Americas", "title": "Extra", "url": "https://news.example.com/x", "colour": "red"}
	]`)
	items, _ := body["items"].([]any)
	if code != 400 || len(items) != 3 || s.count() != 0 {
		t.Fatalf("%d %v, %d stored", code, body, s.count())
	}
	want := map[float64]string{1: "no title", 2: "not an absolute http(s) URL", 3: "unknown field"}
	for _, it := range items {
		m := it.(map[string]any)
		if w := want[m["index"].(float64)]; w == "" || !strings.Contains(m["error"].(string), w) {
			t.Errorf("item error %v", m)
		}
	}
	for _, bad := range []string{"", "not json", "[]", `{"title": `} {
		if code, body := s.do("POST", "/api/stories", s.token, "application/json", bad); code != 400 || body["error"] == "" {
			t.Errorf("%q: %d %v", bad, code, body)
		}
	}
	if code, _ := s.do("POST", "/api/stories", s.token, "text/plain", twoStories); code != 415 {
		t.Errorf("text/plain: %d", code)
	}
	if code, _ := s.do("POST", "/api/stories", s.token, "", twoStories); code != 415 {
		t.Errorf("no content type: %d", code)
	}
}

func TestAPITooLarge(t *testing.T) {
	s := newAPISite(t, 1024)
	big := `[` + strings.Repeat(`{"section": "A", "title": "T", "url": "https://news.example.com/x"},`, 40) + `{"section": "A", "title": "T", "url": "https://news.example.com/y"}]`
	if code, body := s.do("POST", "/api/stories", s.token, "application/json", big); code != 413 || s.count() != 0 {
		t.Fatalf("%d %v", code, body)
	}
	// Under the cap, fine.
	if code, _ := s.do("POST", "/api/stories", s.token, "application/json", twoStories); code != 201 {
		t.Errorf("small body: %d", code)
	}
}

func TestAPIDeleteHidesStory(t *testing.T) {
	s := newAPISite(t, 0)
	s.do("POST", "/api/stories", s.token, "application/json", twoStories)
	code, body := s.do("DELETE", "/api/stories?url=https://news.example.com/2", s.token, "", "")
	if code != 200 || body["hidden"] != true {
		t.Fatalf("%d %v", code, body)
	}
	if !s.hidden("https://news.example.com/2") {
		t.Error("the story is not hidden")
	}
	if code, _ := s.do("DELETE", "/api/stories?url=https://news.example.com/none", s.token, "", ""); code != 404 {
		t.Errorf("unknown url: %d", code)
	}
	if code, _ := s.do("DELETE", "/api/stories", s.token, "", ""); code != 400 {
		t.Errorf("no url: %d", code)
	}
}

// A CMS link with tracking parameters and the feed's item of the same
// article are one story: the API stores the canonical URL feeds use, and
// DELETE finds it under the CMS's tracking link.
func TestAPIPushAndFeedItemAreOneStory(t *testing.T) {
	s := newAPISite(t, 0)
	ctx := context.Background()
	code, body := s.do("POST", "/api/stories", s.token, "application/json",
		`{"section": "Americas", "title": "Storm", "url": "HTTPS://News.Example.com:443/storm?utm_source=cms&utm_medium=push&id=7&fbclid=x", "published_at": "2026-11-28T05:00:00Z"}`)
	if code != 201 {
		t.Fatalf("push: %d %v", code, body)
	}
	var stored string
	s.db.QueryRow(`SELECT url FROM stories`).Scan(&stored)
	if stored != "https://news.example.com/storm?id=7" {
		t.Fatalf("stored url %q, want the canonical https://news.example.com/storm?id=7", stored)
	}
	fs := &feeds.Store{DB: s.db}
	f := &feeds.Feed{URL: "https://news.example.com/rss", Kind: "rss", Section: "news"}
	if err := fs.Add(ctx, f); err != nil {
		t.Fatal(err)
	}
	doc := &feeds.Document{Items: []feeds.Item{{Position: 1, GUID: "storm-7", Title: "Storm",
		Link: "https://news.example.com/storm?id=7&utm_source=rss", Published: time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)}}}
	if _, err := fs.Ingest(ctx, f, doc); err != nil {
		t.Fatal(err)
	}
	if n := s.count(); n != 1 {
		t.Fatalf("%d stories after the push and the feed item, want 1", n)
	}
	code, body = s.do("DELETE", "/api/stories?url="+url.QueryEscape("https://news.example.com/storm?utm_campaign=x&id=7&gclid=y"), s.token, "", "")
	if code != 200 || body["hidden"] != true {
		t.Fatalf("delete by tracking link: %d %v", code, body)
	}
	if !s.hidden("https://news.example.com/storm?id=7") {
		t.Error("the story is not hidden")
	}
}

// A fragment tells live-blog entries apart, as feeds keep it for items
// sharing one link: two pushed entries stay two stories.
func TestAPIKeepsFragments(t *testing.T) {
	s := newAPISite(t, 0)
	code, body := s.do("POST", "/api/stories", s.token, "application/json", `[
 {"section": "Live", "title": "Update 1", "url": "https://news.example.com/live?utm_source=cms#update-1"},
 {"section": "Live", "title": "Update 2", "url": "https://news.example.com/live#update-2"}]`)
	if code != 201 || s.count() != 2 {
		t.Fatalf("%d %v, %d stored", code, body, s.count())
	}
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM stories WHERE url IN ('https://news.example.com/live#update-1', 'https://news.example.com/live#update-2')`).Scan(&n)
	if n != 2 {
		t.Errorf("%d stories under the canonical URLs with their fragments, want 2", n)
	}
	if code, _ := s.do("DELETE", "/api/stories?url="+url.QueryEscape("https://news.example.com/live?utm_medium=x#update-2"), s.token, "", ""); code != 200 {
		t.Errorf("delete of a fragment URL: %d", code)
	}
}
