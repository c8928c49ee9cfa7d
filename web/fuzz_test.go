package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/web"
)

// FuzzUnsubscribeToken sends the unsubscribe page and the one-click POST
// tokens that keep part of Ada's real token and add anything, with any
// list parameter, over real HTTP. Only Ada's whole token on one of her
// lists (or none) answers 200, and only a POST with it changes a
// membership; everything else is a 4xx (the page never says why), never a
// 5xx, and no answer repeats the token. Seeds:
// testdata/fuzz/FuzzUnsubscribeToken.
func FuzzUnsubscribeToken(f *testing.F) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(f.TempDir(), "digest.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	subs := &subscribers.Store{DB: db}
	if _, err := db.ExecContext(ctx, `INSERT INTO lists (name, title, from_addr, created_at, updated_at) VALUES ('weekly', 'The Weekly Review', 'w@example.com', 0, 0)`); err != nil {
		f.Fatal(err)
	}
	ada, err := subs.Add(ctx, "ada@example.com", "Ada Lovelace", "daily", "weekly")
	if err != nil {
		f.Fatal(err)
	}
	// No rate limit: the fuzzer is one client sending thousands of
	// requests a second.
	ws := &web.Server{Subs: subs, Editions: &digest.Editions{DB: db}, UnsubscribeRate: rate.Inf, UnsubscribeBurst: 1}
	srv := httptest.NewServer(ws.Handler())
	f.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	active := func(t *testing.T) int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE status = 'active'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	f.Fuzz(func(t *testing.T, keep uint8, suffix, list string, post bool) {
		token := ada.Token[:min(int(keep), len(ada.Token))] + suffix
		target := srv.URL + "/u/" + url.PathEscape(token) + "?list=" + url.QueryEscape(list)
		method, body := "GET", io.Reader(nil)
		if post {
			method, body = "POST", strings.NewReader("List-Unsubscribe=One-Click")
		}
		req, err := http.NewRequest(method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		if post {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		valid := token == ada.Token && (list == "" || list == "daily" || list == "weekly")
		switch {
		case valid && resp.StatusCode != http.StatusOK:
			t.Fatalf("%s Ada's token, list %q: status %d\n%s", method, list, resp.StatusCode, page)
		case !valid && (resp.StatusCode < 300 || resp.StatusCode >= 500):
			t.Fatalf("%s %q: status %d, want a refusal\n%s", method, target, resp.StatusCode, page)
		}
		if len(token) >= 16 && strings.Contains(string(page), token) {
			t.Fatalf("%s %q: the answer repeats the token", method, target)
		}
		want := 2
		if valid && post {
			want = 1
			if list == "" {
				want = 0
			}
		}
		if got := active(t); got != want {
			t.Fatalf("%s %q: %d active memberships, want %d", method, target, got, want)
		}
		if want != 2 {
			if _, err := subs.Resubscribe(ctx, ada.Email, ""); err != nil {
				t.Fatal(err)
			}
		}
	})
}
