package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/clicks"
	"github.com/newsroom/digest/internal/secret"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/preview"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/web"
)

// Aggregate clicks: story links go through /r/, a reader's click counts
// once, scanners and HEAD do not, a forged HMAC gets no redirect; the
// report and stories list show the count, and no subscriber id is in the
// link.
func TestAggregateClicks(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.must("lists", "update", "daily", "--click-tracking", "aggregate")
	c.must("send", "--smtp", srv.URL())
	msg, err := mail.ReadMessage(bytes.NewReader(srv.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(msg.Body)
	links := regexp.MustCompile(`https://news\.example\.com/r/(\d+)/(\d+)/([0-9a-f]{16})`).FindAllStringSubmatch(body.String(), -1)
	if len(links) == 0 {
		t.Fatalf("no /r/ links in the message:\n%s", body)
	}
	if strings.Contains(body.String(), `href="https://news.example.com/a"`) {
		t.Error("a story link was left direct")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, c.env["DIGEST_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := secret.Key(ctx, db, "", secret.UseClick)
	if err != nil {
		t.Fatal(err)
	}
	site := &web.Server{Subs: &subscribers.Store{DB: db}, ClickKey: key}
	hs := httptest.NewServer(site.Handler())
	defer hs.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	path := strings.TrimPrefix(links[0][0], "https://news.example.com")
	do := func(method, p, ua string) *http.Response {
		req, _ := http.NewRequest(method, hs.URL+p, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	if resp := do("GET", path, browser); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://news.example.com/") {
		t.Fatalf("reader click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, ua := range []string{"Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Office SafeLinks", "Proofpoint URL Defense", "Mimecast Link Inspector", "Barracuda Sentinel (EE)"} {
		if resp := do("GET", path, ua); resp.StatusCode != http.StatusFound {
			t.Errorf("scanner %q: %d", ua, resp.StatusCode)
		}
	}
	do("HEAD", path, browser)
	forged := path[:len(path)-16] + "0123456789abcdef"
	if resp := do("GET", forged, browser); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Errorf("forged HMAC: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Another story id under the first one's HMAC is refused too.
	if resp := do("GET", "/r/"+links[0][1]+"/999/"+links[0][3], browser); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HMAC of another story: %d", resp.StatusCode)
	}
	counts, err := clicks.ByStory(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	if total != 1 {
		t.Errorf("clicks counted %d, want 1 (scanners and HEAD are not readers): %v", total, counts)
	}
	var listed []struct {
		ID     int64 `json:"id"`
		Clicks int64 `json:"clicks"`
	}
	json.Unmarshal([]byte(c.must("stories", "list", "--json")), &listed)
	var fromList int64
	for _, s := range listed {
		fromList += s.Clicks
	}
	if fromList != 1 {
		t.Errorf("stories list --json shows %d clicks", fromList)
	}
	if rep := c.must("editions", "report", links[0][1]); !regexp.MustCompile(`(?m)^1\s+`).MatchString(rep) {
		t.Errorf("report lacks the click:\n%s", rep)
	}
	// preview --serve shows the same report with the history chart.
	pv := &preview.Server{Source: &preview.Source{DB: db, BaseURL: "https://news.example.com"}}
	var date string
	db.QueryRow(`SELECT date FROM editions WHERE id = ?`, links[0][1]).Scan(&date)
	rec := httptest.NewRecorder()
	pv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/lists/daily/"+date, nil))
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, "After the send") || !strings.Contains(page, "1 recipients: 1 accepted") || !strings.Contains(page, "<svg") || strings.Contains(page, "<script") {
		t.Errorf("preview page: %d\n%s", rec.Code, page)
	}
	var rows int
	db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('story_clicks') WHERE name LIKE '%subscriber%'`).Scan(&rows)
	if rows != 0 {
		t.Error("story_clicks has a subscriber column")
	}
}
