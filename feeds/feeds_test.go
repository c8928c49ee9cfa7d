package feeds

import (
	"compress/gzip"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/stories"
)

func TestRSSFixture(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/rss", "rss2.xml", "application/rss+xml")
	m, _ := ParseCategoryMap("Politics=americas,Tech=technology,Economy=economy")
	f := e.add("/rss", Feed{Name: "Example", CategoryMap: m})
	r := e.fetch(f.ID)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Status != 200 || r.New != 3 || r.Skipped != 1 || r.Updated != 0 {
		t.Fatalf("result %+v; want 200, 3 new, 1 skipped (the repeated item)", r)
	}
	if len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "item 4: ") || !strings.Contains(r.Problems[0], "repeats an earlier item") {
		t.Errorf("problems %q", r.Problems)
	}
	got := e.stories()
	if len(got) != 3 {
		t.Fatalf("%d stories: %v", len(got), got)
	}
	// A relative link resolved against the feed's URL, tracking
	// parameters dropped; CDATA title markup stripped; the summary's HTML
	// removed and its entities decoded, the script dropped.
	biden, ok := got[e.srv.URL+"/2026/11/biden-cabinet"]
	if !ok {
		t.Fatalf("no story at the resolved, canonical link: %v", got)
	}
	if biden.Title != "Biden to announce first Cabinet picks" || biden.Section != "americas" ||
		biden.Teaser != "The transition team names its first nominees & advisers." ||
		biden.Image != "https://cdn.example.com/biden.jpg" || !biden.PublishedAt.Equal(time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("biden: %+v", biden)
	}
	// Entities in a title decoded; the first mapped category wins;
	// double-escaped markup in the summary removed; the fragment gone.
	mk := got["https://news.example.com/2026/11/markets"]
	if mk.Title != "Markets rally as AT&T \u2019beats\u2019 forecasts" || mk.Section != "economy" ||
		mk.Teaser != "Stocks & bonds climb." || mk.Image != "https://cdn.example.com/markets.png" {
		t.Errorf("markets: %+v", mk)
	}
	// No date: the time it was first seen; no mapped category: the default.
	und := got["https://news.example.com/2026/11/undated"]
	if !und.PublishedAt.Equal(testStart) || und.Section != DefaultSection {
		t.Errorf("undated: %+v", und)
	}

	// The same document again (the server sends no validators): nothing
	// changes, and the undated story keeps its first-seen time.
	e.clock.Add(time.Hour)
	r = e.fetch(f.ID)
	if r.New != 0 || r.Updated != 0 || r.Unchanged != 3 {
		t.Fatalf("second fetch %+v; want 3 unchanged", r)
	}
	if und := e.stories()["https://news.example.com/2026/11/undated"]; !und.PublishedAt.Equal(testStart) {
		t.Errorf("the undated story moved to %s", und.PublishedAt)
	}
	list, _ := e.feeds.List(e.ctx)
	if list[0].Items != 3 || list[0].LastStatus != 200 || list[0].Errors != 0 {
		t.Errorf("feed after fetch: %+v", list[0])
	}
}

func TestAtomFixture(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/atom", "atom.xml", "application/atom+xml")
	f := e.add("/atom", Feed{Section: "Rest of Asia"})
	r := e.fetch(f.ID)
	if r.Err != nil || r.New != 2 {
		t.Fatalf("%+v", r)
	}
	got := e.stories()
	m, ok := got["https://atom.example.org/blog/posts/monsoon"]
	if !ok {
		t.Fatalf("the relative link is not resolved against xml:base: %v", got)
	}
	if m.Title != "Rest of Asia: monsoon arrives early" || m.Teaser != "Rain & wind across the region." ||
		m.Section != "Rest of Asia" || !m.PublishedAt.Equal(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("monsoon: %+v", m)
	}
	// No published date: the updated date; the teaser from the content.
	s := got["https://atom.example.org/blog/posts/strike"]
	if s.Teaser != "Trains run again." || !s.PublishedAt.Equal(time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("strike: %+v", s)
	}
}

func TestJSONFeedFixture(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/feed.json", "feed.json", "application/feed+json")
	m, _ := ParseCategoryMap("health=Coronavirus Pandemic,*=Transport")
	f := e.add("/feed.json", Feed{CategoryMap: m})
	if r := e.fetch(f.ID); r.Err != nil || r.New != 2 {
		t.Fatalf("%+v", r)
	}
	got := e.stories()
	v := got["https://json.example.net/2026/11/vaccine"]
	if v.Section != "Coronavirus Pandemic" || v.Teaser != "Early data encourage researchers & regulators." || v.Image != "https://json.example.net/img/vaccine.jpg" {
		t.Errorf("vaccine: %+v", v)
	}
	if r := got["https://json.example.net/2026/11/rail"]; r.Section != "Transport" || r.Teaser != "Passengers board the first train." {
		t.Errorf("rail (the map's * entry): %+v", r)
	}
}

func TestConditionalGetAnswered304CostsNoParse(t *testing.T) {
	e := newEnv(t)
	body, _ := os.ReadFile("testdata/rss2.xml")
	const etag = `"v1"`
	const lastMod = "Sat, 28 Nov 2026 05:00:00 GMT"
	var full atomic.Int32
	e.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=1800")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		w.Write(body)
	})
	f := e.add("/rss", Feed{})
	if r := e.fetch(f.ID); r.Err != nil || r.New != 3 {
		t.Fatalf("first fetch %+v", r)
	}
	// An editor hides a story; a 304 must not touch anything.
	e.db.Exec(`UPDATE stories SET hidden = 1`)
	e.clock.Add(time.Hour)
	r := e.fetch(f.ID)
	if r.Err != nil || !r.NotModified || r.Status != 304 || r.New+r.Updated+r.Unchanged+r.Skipped != 0 {
		t.Fatalf("second fetch %+v; want a 304 with nothing counted", r)
	}
	reqs := e.requests()
	second := reqs[len(reqs)-1]
	if second.Header.Get("If-None-Match") != etag || second.Header.Get("If-Modified-Since") != lastMod {
		t.Errorf("conditional headers %q %q", second.Header.Get("If-None-Match"), second.Header.Get("If-Modified-Since"))
	}
	// A test binary carries no module version: the User-Agent says devel
	// (a release build names its tag, as digest --version does).
	if ua := second.Header.Get("User-Agent"); !strings.HasPrefix(ua, "digest/devel (") || Version != buildVersion() {
		t.Errorf("User-Agent %q does not name digest and its version", ua)
	}
	if full.Load() != 1 {
		t.Errorf("%d full answers", full.Load())
	}
	for _, s := range e.stories() {
		if !s.Hidden {
			t.Errorf("a 304 changed story %s", s.URL)
		}
	}
	// Cache-Control max-age=1800 is respected on the schedule: the
	// adaptive interval for 3 items this week is far longer anyway, so
	// check the floor with a fixed --every of 5 minutes.
	g, _ := e.feeds.Get(e.ctx, f.ID)
	if g.LastStatus != 304 || g.ETag != etag || g.LastModified != lastMod {
		t.Errorf("feed after 304: %+v", g)
	}
	every := 5 * time.Minute
	e.feeds.Update(e.ctx, f.ID, Change{Every: &every})
	r = e.fetch(f.ID)
	if want := e.clock.Now().Add(30 * time.Minute); !r.NextFetch.Equal(want) {
		t.Errorf("next fetch %s; want %s (max-age 1800 over --every 5m)", r.NextFetch, want)
	}
}

func TestGzip(t *testing.T) {
	e := newEnv(t)
	body, _ := os.ReadFile("testdata/atom.xml")
	e.mux.HandleFunc("/atom", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/atom+xml")
		gz := gzip.NewWriter(w)
		gz.Write(body)
		gz.Close()
	})
	f := e.add("/atom", Feed{})
	if r := e.fetch(f.ID); r.Err != nil || r.New != 2 {
		t.Fatalf("%+v", r)
	}
}

func TestRedirects(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/new", "atom.xml", "application/atom+xml")
	e.mux.Handle("/old", http.RedirectHandler("/new", http.StatusMovedPermanently))
	e.mux.Handle("/temp", http.RedirectHandler("/new", http.StatusFound))
	e.mux.Handle("/perm-then-temp", http.RedirectHandler("/temp", http.StatusPermanentRedirect))
	e.mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	e.mux.Handle("/to-file", http.RedirectHandler("file:///etc/passwd", http.StatusFound))

	moved := e.add("/old", Feed{})
	r := e.fetch(moved.ID)
	if r.Err != nil || r.MovedTo != e.srv.URL+"/new" {
		t.Fatalf("301: %+v", r)
	}
	if g, _ := e.feeds.Get(e.ctx, moved.ID); g.URL != e.srv.URL+"/new" {
		t.Errorf("after a 301 the stored URL is %s", g.URL)
	}
	for _, path := range []string{"/temp", "/perm-then-temp"} {
		f := e.add(path, Feed{})
		if r := e.fetch(f.ID); r.Err != nil || r.MovedTo != "" {
			t.Errorf("%s: %+v", path, r)
		}
		if g, _ := e.feeds.Get(e.ctx, f.ID); g.URL != e.srv.URL+path {
			t.Errorf("%s: a redirect that was not all permanent changed the URL to %s", path, g.URL)
		}
	}
	loop := e.add("/loop", Feed{})
	if r := e.fetch(loop.ID); r.Err == nil || !strings.Contains(r.Error, "more than 5 redirects") {
		t.Errorf("loop: %+v", r)
	}
	file := e.add("/to-file", Feed{})
	if r := e.fetch(file.ID); r.Err == nil || !strings.Contains(r.Error, `scheme "file" is not http or https`) {
		t.Errorf("redirect to file: %+v", r)
	}
}

func TestFailuresBackOffAndChangeNothingElse(t *testing.T) {
	e := newEnv(t)
	body, _ := os.ReadFile("testdata/rss2.xml")
	var mode atomic.Value
	mode.Store("ok")
	e.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "503":
			w.Header().Set("Retry-After", "7200")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<!DOCTYPE html><html><body>home</body></html>"))
		default:
			w.Header().Set("ETag", `"a"`)
			w.Write(body)
		}
	})
	f := e.add("/rss", Feed{})
	if r := e.fetch(f.ID); r.Err != nil {
		t.Fatal(r.Err)
	}
	before := e.stories()
	steps := []struct {
		mode   string
		errors int
		wait   time.Duration
		msg    string
	}{
		{"500", 1, 5 * time.Minute, "server answered 500 Internal Server Error"},
		{"500", 2, 10 * time.Minute, "server answered 500"},
		{"html", 3, 20 * time.Minute, "is not a feed (RSS, Atom or JSON Feed): it is an HTML page"},
		{"503", 4, 2 * time.Hour, "server answered 503"}, // Retry-After beats the 40-minute back-off
	}
	for _, s := range steps {
		mode.Store(s.mode)
		e.clock.Add(time.Minute)
		r := e.fetch(f.ID)
		g, _ := e.feeds.Get(e.ctx, f.ID)
		if r.Err == nil || g.Errors != s.errors || !strings.Contains(g.LastError, s.msg) ||
			!g.NextFetch.Equal(e.clock.Now().Add(s.wait)) || g.ETag != `"a"` {
			t.Errorf("%s: errors %d, last error %q, next in %s, etag %q; want %d, %q, %s", s.mode, g.Errors, g.LastError,
				g.NextFetch.Sub(e.clock.Now()), g.ETag, s.errors, s.msg, s.wait)
		}
		if strings.Contains(g.LastError, "\n") {
			t.Errorf("the error is not one line: %q", g.LastError)
		}
	}
	after := e.stories()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("failures changed stories")
	}
	mode.Store("ok")
	if r := e.fetch(f.ID); r.Err != nil {
		t.Fatal(r.Err)
	}
	if g, _ := e.feeds.Get(e.ctx, f.ID); g.Errors != 0 || g.LastError != "" {
		t.Errorf("a success does not reset the errors: %+v", g)
	}
}

func TestTimeoutAndBodyCap(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	e.mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>`))
		w.Write([]byte(strings.Repeat("<!-- padding -->", 10000)))
	})
	e.poller = &Poller{Feeds: e.feeds, Fetcher: &Fetcher{AllowPrivate: true, Timeout: 100 * time.Millisecond, MaxBody: 64 << 10}}
	slow := e.add("/slow", Feed{})
	if r := e.fetch(slow.ID); r.Err == nil || !strings.Contains(r.Error, "(timeout)") {
		t.Errorf("slow: %+v", r)
	}
	if g, _ := e.feeds.Get(e.ctx, slow.ID); g.Errors != 1 {
		t.Errorf("a timeout is not counted: %+v", g)
	}
	e.poller.Fetcher = &Fetcher{AllowPrivate: true, MaxBody: 64 << 10}
	big := e.add("/big", Feed{})
	if r := e.fetch(big.ID); r.Err == nil || !strings.Contains(r.Error, "larger than") {
		t.Errorf("big: %+v", r)
	}
}

func TestBrokenItemsAreReportedAndTheRestStored(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/rss", "broken-items.xml", "application/rss+xml")
	f := e.add("/rss", Feed{})
	r := e.fetch(f.ID)
	if r.Err != nil || r.New != 2 || r.Skipped != 3 {
		t.Fatalf("%+v", r)
	}
	want := []string{
		`item 2: "No link here" has no link`,
		`item 3: no title`,
		`item 4: link "javascript:alert(document.cookie)" is not an http(s) URL`,
	}
	for i, w := range want {
		if i >= len(r.Problems) || !strings.HasPrefix(r.Problems[i], w) {
			t.Errorf("problem %d: %q; want %q...", i, r.Problems, w)
		}
	}
	if _, ok := e.stories()["https://broken.example.com/good2"]; !ok {
		t.Errorf("the good item after the bad ones is missing")
	}
}

func TestNotAFeedAndBadJSON(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/home", "not-a-feed.html", "text/html")
	e.mux.HandleFunc("/bad.json", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"version": "https://jsonfeed.org/version/1.1", "items": [`))
	})
	e.serveFile("/sitemap-as-rss", "news-sitemap.xml", "application/xml")
	for path, want := range map[string]string{
		"/home":           "the document is not a feed (RSS, Atom or JSON Feed): it is an HTML page",
		"/bad.json":       "the feed does not parse",
		"/sitemap-as-rss": "it is a sitemap (add it with --type sitemap)",
	} {
		f := e.add(path, Feed{})
		r := e.fetch(f.ID)
		if r.Err == nil || !strings.Contains(r.Error, want) || strings.Contains(r.Error, "\n") {
			t.Errorf("%s: %q; want %q", path, r.Error, want)
		}
	}
	if n := len(e.stories()); n != 0 {
		t.Errorf("%d stories stored from bad documents", n)
	}
}

func TestSharedLinkDoesNotCollapse(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/live", "shared-link.xml", "application/rss+xml")
	f := e.add("/live", Feed{})
	if r := e.fetch(f.ID); r.Err != nil || r.New != 3 {
		t.Fatalf("%+v", r)
	}
	got := e.stories()
	titles := map[string]bool{}
	for u, s := range got {
		if !strings.HasPrefix(u, "https://live.example.com/#item-") {
			t.Errorf("story url %s", u)
		}
		titles[s.Title] = true
	}
	if len(got) != 3 || !titles["Update one"] || !titles["Update two"] || !titles["Update three"] {
		t.Fatalf("stories %v", got)
	}
	// Fetched again, each item finds its own story.
	if r := e.fetch(f.ID); r.Unchanged != 3 || r.New != 0 {
		t.Errorf("refetch %+v", r)
	}
}

func TestSameArticleInTwoFeedsIsOneStory(t *testing.T) {
	e := newEnv(t)
	feedWith := func(link, guid, teaser, image string) string {
		return `<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>x</title><link>https://x.example/</link><description>d</description>
		<item><title>Port strike ends</title><link>` + link + `</link><guid>` + guid + `</guid><pubDate>Sat, 28 Nov 2026 05:00:00 GMT</pubDate><description>` + teaser + `</description>` + image + `</item></channel></rss>`
	}
	e.mux.HandleFunc("/world", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(feedWith("https://News.Example.com:443/port-strike?utm_source=world&amp;id=7&amp;fbclid=abc#top", "world-1", "", "")))
	})
	e.mux.HandleFunc("/business", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(feedWith("https://news.example.com/port-strike?gclid=zz&amp;id=7", "biz-99", "Dockers return.",
			`<media:content url="https://cdn.example/port.jpg" medium="image"/>`)))
	})
	world := e.add("/world", Feed{Section: "World"})
	biz := e.add("/business", Feed{Section: "Economy"})
	if r := e.fetch(world.ID); r.New != 1 {
		t.Fatalf("world %+v", r)
	}
	r := e.fetch(biz.ID)
	if r.New != 0 || r.Updated != 1 {
		t.Fatalf("business %+v; want the stored story updated (teaser and image filled in)", r)
	}
	got := e.stories()
	s, ok := got["https://news.example.com/port-strike?id=7"]
	if len(got) != 1 || !ok {
		t.Fatalf("stories %v", got)
	}
	// The first feed's section stays; the second fills what was missing.
	if s.Section != "World" || s.Teaser != "Dockers return." || s.Image != "https://cdn.example/port.jpg" {
		t.Errorf("story %+v", s)
	}
	if f, _ := e.feeds.Get(e.ctx, biz.ID); f.Items != 1 {
		t.Errorf("the second feed counts %d items", f.Items)
	}
}

func TestUpdatesKeepEditorEdits(t *testing.T) {
	e := newEnv(t)
	var version atomic.Int32
	e.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		fmt.Fprintf(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>https://x.example/</link><description>d</description>
		<item><title>Headline v%d</title><link>https://x.example/a</link><guid>a</guid><pubDate>Sat, 28 Nov 2026 0%d:00:00 GMT</pubDate><description>Teaser v%d</description><category>c%d</category></item></channel></rss>`, v, v+1, v, v)
	})
	f := e.add("/rss", Feed{CategoryMap: CategoryMap{"c0": "first", "c1": "second", "c2": "third"}})
	e.fetch(f.ID)
	s := e.stories()["https://x.example/a"]
	version.Store(1)
	if r := e.fetch(f.ID); r.Updated != 1 {
		t.Fatalf("%+v", r)
	}
	s = e.stories()["https://x.example/a"]
	if s.Title != "Headline v1" || s.Teaser != "Teaser v1" || s.Section != "second" || s.PublishedAt.Hour() != 2 {
		t.Fatalf("an updated item did not update the story: %+v", s)
	}
	st := &stories.Store{DB: e.db, Now: e.clock.Now}
	title := "Editor's headline"
	if _, err := st.Edit(e.ctx, s.ID, stories.Edit{Title: &title}); err != nil {
		t.Fatal(err)
	}
	version.Store(2)
	e.fetch(f.ID)
	s = e.stories()["https://x.example/a"]
	if s.Title != title || s.Teaser != "Teaser v2" || s.Section != "third" {
		t.Errorf("after the edit and an update: %+v; want the editor's title kept, the rest updated", s)
	}
	// The teaser and the section edited too: the next update moves only
	// the time.
	teaser, section := "Editor's teaser", "Front"
	if _, err := st.Edit(e.ctx, s.ID, stories.Edit{Teaser: &teaser, Section: &section}); err != nil {
		t.Fatal(err)
	}
	version.Store(3)
	if r := e.fetch(f.ID); r.Updated != 1 {
		t.Fatalf("%+v", r)
	}
	s = e.stories()["https://x.example/a"]
	if s.Title != title || s.Teaser != teaser || s.Section != section || s.PublishedAt.Hour() != 4 {
		t.Errorf("after editing title, teaser and section and an update: %+v; want all three kept, the time moved", s)
	}
}

func TestGuardRefusesInternalAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	f := &Fetcher{}
	_, err := f.Fetch(t.Context(), Request{URL: srv.URL + "/feed"})
	if !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "refused to connect to 127.0.0.1") ||
		!strings.Contains(err.Error(), "--allow-private") {
		t.Fatalf("err %v", err)
	}
	// A name resolving to loopback is refused at dial time too.
	_, err = f.Fetch(t.Context(), Request{URL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)})
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("localhost: %v", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the guarded fetcher reached the server %d times", hits.Load())
	}
	// The per-feed allowance lets it through.
	if _, err := f.Fetch(t.Context(), Request{URL: srv.URL, AllowPrivate: true}); err != nil || hits.Load() != 1 {
		t.Errorf("allow-private: %v, %d hits", err, hits.Load())
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/feed", "gopher://x/", "https://user:pw@example.com/feed"} {
		if _, err := f.Fetch(t.Context(), Request{URL: u}); err == nil {
			t.Errorf("%s fetched", u)
		}
	}
	for addr, public := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "93.184.215.14": true, "2606:4700::1111": true,
		// IPv6 forms of internal space: unique local (fc00::/7) at both
		// ends, link-local to its end, site-local, IPv4-mapped private and
		// metadata, and the prefixes that carry an internal IPv4 address
		// (NAT64, IPv4-compatible, IPv4-translated, 6to4, Teredo).
		"fc00::1": false, "fdff:ffff::1": false, "febf::1": false, "fec0::1": false, "::": false,
		"::ffff:10.0.0.1": false, "::ffff:169.254.169.254": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::7f00:1": false,
		"64:ff9b:1::1": false, "::127.0.0.1": false, "::ffff:0:127.0.0.1": false, "2002:7f00:1::1": false,
		"2002:a9fe:a9fe::1": false, "2001:0:4136:e378:8000:63bf:80ff:fffe": false, "100::1": false,
		"64:ff9b::5db8:d70e": true, "2002:5db8:d70e::1": true,
		// IPv4 ranges netip does not name.
		"0.1.2.3": false, "240.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false, "192.0.0.8": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddr(%s) = %v", addr, got)
		}
	}
}

func TestSitemaps(t *testing.T) {
	e := newEnv(t)
	e.serveFile("/news-sitemap.xml", "news-sitemap.xml", "application/xml")
	e.serveFile("/index.xml", "sitemap-index.xml", "application/xml")
	m, _ := ParseCategoryMap("Politics=americas")
	direct := e.add("/news-sitemap.xml", Feed{Kind: KindSitemap, CategoryMap: m})
	r := e.fetch(direct.ID)
	if r.Err != nil || r.New != 2 {
		t.Fatalf("%+v", r)
	}
	got := e.stories()
	el := got["https://sitemap.example.com/2026/11/election-results"]
	if el.Title != "Election results & what they mean" || el.Section != "americas" ||
		el.Image != "https://sitemap.example.com/img/election.jpg" || !el.PublishedAt.Equal(time.Date(2026, 11, 28, 5, 30, 0, 0, time.UTC)) {
		t.Errorf("election: %+v", el)
	}
	if h := got["https://sitemap.example.com/2026/11/harbour"]; !h.PublishedAt.Equal(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("harbour (date only): %+v", h)
	}
	// Through the index, the same entries are the same stories.
	idx := e.add("/index.xml", Feed{Kind: KindSitemap})
	if r := e.fetch(idx.ID); r.Err != nil || r.New != 0 || r.Unchanged != 2 {
		t.Errorf("index %+v", r)
	}
}

func TestEnrichFromArticlePage(t *testing.T) {
	e := newEnv(t)
	var inFlight, peak atomic.Int32
	e.mux.HandleFunc("/article/", func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // lets requests overlap, so the limit is exercised
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><meta name="description" content="plain description">
			<meta property="og:description" content="Open Graph &amp; more"><meta property="og:image" content="/img/%s.jpg">
			</head><body><meta property="og:image" content="/wrong.jpg"></body></html>`, strings.TrimPrefix(r.URL.Path, "/article/"))
	})
	var items strings.Builder
	for i := range 8 {
		fmt.Fprintf(&items, `<item><title>Story %d</title><link>%s/article/%d</link><pubDate>Sat, 28 Nov 2026 05:00:00 GMT</pubDate></item>`, i, e.srv.URL, i)
	}
	e.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>%s</link><description>d</description>%s</channel></rss>`, e.srv.URL, items.String())
	})
	f := e.add("/rss", Feed{Enrich: true})
	if r := e.fetch(f.ID); r.Err != nil || r.New != 8 {
		t.Fatalf("%+v", r)
	}
	s := e.stories()[e.srv.URL+"/article/3"]
	if s.Teaser != "Open Graph & more" || s.Image != e.srv.URL+"/img/3.jpg" {
		t.Errorf("enriched story %+v", s)
	}
	if p := peak.Load(); p > DefaultPerHost {
		t.Errorf("%d article pages fetched at once from one host; the limit is %d", p, DefaultPerHost)
	}
	// Pages are fetched once: a refetch of the feed fetches none.
	before := len(e.requests())
	e.fetch(f.ID)
	if n := len(e.requests()) - before; n != 1 {
		t.Errorf("the refetch made %d requests; want the feed's only", n)
	}
	if s := e.stories()[e.srv.URL+"/article/3"]; s.Teaser != "Open Graph & more" {
		t.Errorf("the refetch lost the enrichment: %+v", s)
	}
}

func TestPageMeta(t *testing.T) {
	m := PageMeta([]byte(`<html><head><meta name="twitter:description" content="tw"><meta name="twitter:image" content="https://x/t.png"><meta name="description" content="plain"></head></html>`))
	if m.Description != "tw" || m.Image != "https://x/t.png" {
		t.Errorf("%+v", m)
	}
	if m := PageMeta([]byte(`<html><head><meta name="description" content="plain"></head></html>`)); m.Description != "plain" {
		t.Errorf("%+v", m)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://News.Example.COM:443/a?utm_source=x&utm_medium=y&id=3#frag": "https://news.example.com/a?id=3",
		"http://example.com:80":                               "http://example.com/",
		"http://example.com:8080/a?fbclid=1&gclid=2&mc_eid=3": "http://example.com:8080/a",
		"https://example.com/a?b=2&a=1&UTM_Campaign=z":        "https://example.com/a?b=2&a=1",
		"https://example.com/search?q=utm_source":             "https://example.com/search?q=utm_source",
		"https://[2001:DB8::1]:443/x":                         "https://[2001:db8::1]/x",
		"https://example.com./path?":                          "https://example.com/path",
	} {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseCategoryMap(t *testing.T) {
	m, err := ParseCategoryMap("Politics=americas, Tech = technology,*=news")
	if err != nil || m["politics"] != "americas" || m["tech"] != "technology" || m["*"] != "news" {
		t.Errorf("%v %v", m, err)
	}
	if _, err := ParseCategoryMap("Politics"); err == nil || !strings.Contains(err.Error(), "CATEGORY=SECTION") {
		t.Errorf("err %v", err)
	}
}

func TestFixturesParse(t *testing.T) {
	// Each fixture parses on its own, as a document (no network).
	for _, name := range []string{"rss2.xml", "atom.xml", "feed.json", "shared-link.xml", "broken-items.xml"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ParseFeed(body, nil)
		if err != nil || len(doc.Items) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBrokenXMLMidFeedIsReported(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>https://a.example/</link><description><![CDATA[<item>not one</item>]]></description>
		<item><title>Good</title><link>https://a.example/1</link></item>
		<item><title>Bad</titl><link>https://a.example/2</link></item>
		<item><title>Lost</title><link>https://a.example/3</link></item></channel></rss>`))
	})
	f := e.add("/rss", Feed{})
	r := e.fetch(f.ID)
	if r.Err != nil || r.New != 1 || r.Skipped != 2 {
		t.Fatalf("%+v", r)
	}
	if len(r.Problems) != 2 || !strings.HasPrefix(r.Problems[1], "item 2: the feed's XML breaks here: 1 item(s) after it could not be read") {
		t.Errorf("problems %q", r.Problems)
	}
}

// A public server that redirects to an internal one: the redirect is
// refused at dial time and the internal server never sees a request.
// 127.0.0.1 stands in for the public server (the guard is told so); the
// internal one listens on 127.0.0.2 and on ::1.
func TestGuardRefusesRedirectsInside(t *testing.T) {
	var inside atomic.Int32
	internal := func(addr string) string {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inside.Add(1)
			w.Write([]byte("secret"))
		})}}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	targets := map[string]string{
		"/to-loopback": internal("127.0.0.2:0") + "/admin",
		"/to-ipv6":     internal("[::1]:0") + "/admin",
	}
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, targets[r.URL.Path], http.StatusMovedPermanently)
	}))
	defer public.Close()
	f := &Fetcher{public: func(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.1") || PublicAddr(ip) }}
	for path, target := range targets {
		_, err := f.Fetch(t.Context(), Request{URL: public.URL + path})
		if !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "--allow-private") {
			t.Errorf("redirect to %s: %v; want the internal address refused", target, err)
		}
	}
	if inside.Load() != 0 {
		t.Errorf("the internal servers got %d requests through a redirect", inside.Load())
	}
}

// A feed whose URL names an internal address outright is refused when it
// is added or changed, not stored to fail at every poll; --allow-private
// lets it in.
func TestAddRefusesInternalURLs(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"http://127.0.0.1/feed", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/rss",
		"http://[fd00::5]/rss", "http://[::ffff:10.0.0.1]/rss", "http://localhost:8080/rss", "http://cms.localhost/rss", "http://10.1.2.3/rss"} {
		f := Feed{URL: u}
		if err := e.feeds.Add(e.ctx, &f); !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "--allow-private") {
			t.Errorf("add %s: %v", u, err)
		}
	}
	if list, _ := e.feeds.List(e.ctx); len(list) != 0 {
		t.Errorf("%d internal feeds stored", len(list))
	}
	ok := Feed{URL: "http://10.1.2.3/rss", AllowPrivate: true}
	if err := e.feeds.Add(e.ctx, &ok); err != nil {
		t.Fatalf("--allow-private: %v", err)
	}
	off := false
	if _, err := e.feeds.Update(e.ctx, ok.ID, Change{AllowPrivate: &off}); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("turning --allow-private off for an internal feed: %v", err)
	}
	pub := Feed{URL: "https://news.example.com/rss"}
	if err := e.feeds.Add(e.ctx, &pub); err != nil {
		t.Errorf("public feed: %v", err)
	}
	inside := "http://192.168.0.10/rss"
	if _, err := e.feeds.Update(e.ctx, pub.ID, Change{URL: &inside}); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("update --url to an internal address: %v", err)
	}
}

// A feed that reuses one link and carries only its latest item (an
// alerts feed): each fetch sees one item, so the link looks unshared, yet
// a new GUID with a new title and date is a new story, not the old one
// rewritten. A GUID that changes for the same article (same title and
// date) still updates its story.
func TestSharedLinkAcrossFetchesDoesNotCollapse(t *testing.T) {
	e := newEnv(t)
	var cur atomic.Value
	one := func(guid, title, date string) string {
		return `<?xml version="1.0"?><rss version="2.0"><channel><title>Alerts</title><link>https://alerts.example.com/</link><description>d</description>
		<item><title>` + title + `</title><link>https://alerts.example.com/</link><guid>` + guid + `</guid><pubDate>` + date + `</pubDate></item></channel></rss>`
	}
	e.mux.HandleFunc("/alerts", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(cur.Load().(string))) })
	f := e.add("/alerts", Feed{})
	steps := []struct {
		guid, title, date string
		new, updated      int
	}{
		{"a1", "Storm warning", "Sat, 28 Nov 2026 04:00:00 GMT", 1, 0},
		{"a2", "Bridge closed", "Sat, 28 Nov 2026 05:00:00 GMT", 1, 0},
		{"a3", "Trains resume", "Sat, 28 Nov 2026 05:30:00 GMT", 1, 0},
	}
	for _, s := range steps {
		cur.Store(one(s.guid, s.title, s.date))
		if r := e.fetch(f.ID); r.Err != nil || r.New != s.new || r.Updated != s.updated {
			t.Fatalf("%s: %+v; want %d new, %d updated", s.guid, r, s.new, s.updated)
		}
	}
	got := e.stories()
	titles := map[string]bool{}
	for _, s := range got {
		titles[s.Title] = true
	}
	if len(got) != 3 || !titles["Storm warning"] || !titles["Bridge closed"] || !titles["Trains resume"] {
		t.Errorf("stories %v; want the three alerts apart", got)
	}

	// An article of its own link whose GUID changes is the same story,
	// whether its title stays or is corrected (its time stays).
	cur.Store(strings.ReplaceAll(one("p1", "Port reopens", "Sat, 28 Nov 2026 03:00:00 GMT"), "https://alerts.example.com/<", "https://alerts.example.com/port<"))
	g := e.add("/guid-change", Feed{})
	e.mux.HandleFunc("/guid-change", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(cur.Load().(string))) })
	for _, s := range []struct{ guid, title string }{{"p1", "Port reopens"}, {"p1-v2", "Port reopens"}, {"p1-v3", "Port reopens at dawn"}} {
		cur.Store(strings.ReplaceAll(one(s.guid, s.title, "Sat, 28 Nov 2026 03:00:00 GMT"), "https://alerts.example.com/<", "https://alerts.example.com/port<"))
		if r := e.fetch(g.ID); r.Err != nil || (s.guid != "p1" && r.New != 0) {
			t.Errorf("%s: %+v; want the stored story", s.guid, r)
		}
	}
	if s, ok := e.stories()["https://alerts.example.com/port"]; !ok || s.Title != "Port reopens at dawn" || len(e.stories()) != 4 {
		t.Errorf("after GUID changes: %v", e.stories())
	}
}
