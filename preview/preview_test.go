package preview_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/preview"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

var morning = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

// env is a real SQLite store with a fixed clock.
type env struct {
	t       *testing.T
	ctx     context.Context
	db      *store.DB
	now     time.Time
	stories *stories.Store
	subs    *subscribers.Store
	src     *preview.Source
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	e := &env{t: t, ctx: ctx, db: db, now: morning}
	clock := func() time.Time { return e.now }
	e.stories = &stories.Store{DB: db, Now: clock}
	e.subs = &subscribers.Store{DB: db, Now: clock}
	e.src = &preview.Source{DB: db, Composer: digest.Composer{BaseURL: "https://news.example.com", Brand: templates.DefaultBrand},
		BaseURL: "https://news.example.com", Now: clock}
	return e
}

// add stores a story published ago before the clock; it returns its id.
func (e *env) add(section, title, teaser, url string, ago time.Duration, score float64) int64 {
	e.t.Helper()
	st := stories.Story{Section: section, Title: title, Teaser: teaser, URL: url, PublishedAt: e.now.Add(-ago), Score: score}
	if err := e.stories.Add(e.ctx, &st); err != nil {
		e.t.Fatal(err)
	}
	return st.ID
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) sample() {
	e.add("Americas", "Putin not ready to recognise Biden", "We will work with anyone.", "https://news.example.com/putin", time.Hour, 5)
	e.add("Americas", "Biden cabinet picks", "Scaled-down traditions.", "https://news.example.com/cabinet", 2*time.Hour, 3)
	e.add("Economy", "Markets <script>alert(1)</script> rally", "Stocks & bonds", "https://news.example.com/markets", 3*time.Hour, 1)
}

func (e *env) load(list, date string) preview.Edition {
	e.t.Helper()
	ed, err := e.src.Load(e.ctx, list, date)
	if err != nil {
		e.t.Fatal(err)
	}
	return ed
}

func (e *env) render(ed preview.Edition, as string) preview.View {
	e.t.Helper()
	rcpt, err := e.src.Recipient(e.ctx, as)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := e.src.Render(ed, rcpt, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func TestComposedPreviewRecordsNothingAndFillsSampleFields(t *testing.T) {
	e := newEnv(t)
	e.sample()
	ed := e.load(subscribers.DefaultList, "")
	if ed.Stored || ed.Date != "2026-11-28" || len(ed.Items) != 3 {
		t.Fatalf("edition: stored %v, date %s, %d items", ed.Stored, ed.Date, len(ed.Items))
	}
	v := e.render(ed, "")
	if n := e.count("editions") + e.count("edition_stories") + e.count("deliveries") + e.count("subscribers"); n != 0 {
		t.Fatalf("a preview wrote %d rows", n)
	}
	for _, body := range []string{v.HTML, v.Text} {
		if strings.Contains(body, "[[digest:") {
			t.Fatal("a placeholder shows in the preview")
		}
		if !strings.Contains(body, "https://news.example.com/u/"+preview.SampleToken+"?list=daily") {
			t.Error("the sample unsubscribe link is missing")
		}
	}
	if !strings.Contains(v.HTML, "Here are today&#39;s top stories.") {
		t.Error("the sample reader does not get the neutral greeting")
	}
	if strings.Contains(v.HTML, "<script>alert(1)</script>") || !strings.Contains(v.HTML, "Markets &lt;script&gt;") {
		t.Error("story title not escaped in the HTML")
	}
	if got := v.Header("Subject"); got != "The Daily Digest, Sat 28 Nov 2026: Putin not ready to recognise Biden" {
		t.Errorf("Subject %q", got)
	}
	if got := v.Header("From"); !strings.Contains(got, "digest@example.com") {
		t.Errorf("From %q", got)
	}
	if got := v.Header("List-Unsubscribe"); !strings.Contains(got, "<https://news.example.com/u/"+preview.SampleToken+"?list=daily>") {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if v.HTMLPartBytes < len(v.HTML)/2 || len(v.Message) <= v.HTMLPartBytes {
		t.Errorf("sizes: HTML part %d, decoded HTML %d, message %d", v.HTMLPartBytes, len(v.HTML), len(v.Message))
	}
	if len(v.Warnings) != 0 {
		t.Errorf("unexpected warnings: %+v", v.Warnings)
	}
}

func TestStoredEditionIsShownAsStored(t *testing.T) {
	e := newEnv(t)
	e.sample()
	// One Americas story goes to "More headlines": the stored edition
	// must remember which stories were where.
	if _, err := e.stories.SetSection(e.ctx, "Americas", stories.SectionChange{MaxStories: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	list, _ := e.subs.GetList(e.ctx, subscribers.DefaultList)
	eds := &digest.Editions{DB: e.db, Now: func() time.Time { return e.now }}
	stored, _, err := eds.Build(e.ctx, e.src.Composer, list, "", false)
	if err != nil {
		t.Fatal(err)
	}
	// A story added and one retitled after the build do not change it.
	e.now = e.now.Add(time.Hour)
	e.add("Americas", "Late story", "", "https://news.example.com/late", 0, 99)
	if _, err := e.stories.Edit(e.ctx, stored.StoryIDs[0], stories.Edit{Title: ptr("Retitled")}); err != nil {
		t.Fatal(err)
	}
	ed := e.load(subscribers.DefaultList, "2026-11-28")
	if !ed.Stored || ed.ID != stored.ID || ed.HTML != stored.HTML {
		t.Fatalf("stored edition not shown as stored: %+v", ed.Edition)
	}
	if ed.Leads != 2 || len(ed.Items) != 3 || !ed.Items[0].Lead || !ed.Items[1].Lead || ed.Items[2].Lead || ed.Items[2].Title != "Biden cabinet picks" {
		t.Errorf("leads %d, items %+v", ed.Leads, ed.Items)
	}
	v := e.render(ed, "")
	if strings.Contains(v.HTML, "Late story") || strings.Contains(v.HTML, "Retitled") {
		t.Error("a stored edition changed after it was built")
	}
	// "next" is tomorrow's, with what came after the stored one.
	next := e.load(subscribers.DefaultList, preview.NextDate)
	if next.Stored || !next.Next || next.Date != "2026-11-29" || len(next.Items) != 1 || next.Items[0].Title != "Late story" {
		t.Fatalf("next: %+v", next.Items)
	}
	if e.count("editions") != 1 {
		t.Error("loading next stored an edition")
	}
}

func ptr[T any](v T) *T { return &v }

func TestAsSubscriberFillsTheirFields(t *testing.T) {
	e := newEnv(t)
	e.sample()
	sub, err := e.subs.Add(e.ctx, "ada@example.com", "Ada <b>Lovelace</b>")
	if err != nil {
		t.Fatal(err)
	}
	v := e.render(e.load(subscribers.DefaultList, ""), "Ada@Example.com")
	if !strings.Contains(v.HTML, "Hi Ada &lt;b&gt;Lovelace&lt;/b&gt;") || !strings.Contains(v.Text, "Hi Ada <b>Lovelace</b>") {
		t.Error("the subscriber's name is not filled in (escaped in HTML)")
	}
	if !strings.Contains(v.HTML, "/u/"+sub.Token+"?list=daily") || !strings.Contains(v.Header("List-Unsubscribe"), sub.Token) {
		t.Error("the subscriber's unsubscribe link is not filled in")
	}
	if !strings.Contains(v.Header("To"), "ada@example.com") {
		t.Errorf("To %q", v.Header("To"))
	}
	if _, err := e.src.Recipient(e.ctx, "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "unknown subscriber") {
		t.Errorf("unknown subscriber: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	e := newEnv(t)
	e.add("World", "Has teaser", "A teaser.", "https://news.example.com/a", time.Hour, 9)
	e.add("World", "No teaser", "", "https://news.example.com/b", 2*time.Hour, 8)
	e.add("World", "Same article", "Teaser.", "http://www.news.example.com/a/?utm_source=x#top", 3*time.Hour, 7)
	e.add("World", "Fourth", "Teaser.", "https://news.example.com/d", 4*time.Hour, 6)
	e.add("World", "Fifth", "Teaser.", "https://news.example.com/e", 5*time.Hour, 5)
	v := e.render(e.load(subscribers.DefaultList, ""), "")
	kinds := map[string]string{}
	for _, w := range v.Warnings {
		kinds[w.Kind] = w.Message
	}
	if m := kinds["no-teaser"]; !strings.Contains(m, `"No teaser"`) {
		t.Errorf("no-teaser: %q", m)
	}
	if m := kinds["duplicate-url"]; !strings.Contains(m, `"Has teaser"`) || !strings.Contains(m, `"Same article"`) {
		t.Errorf("duplicate-url: %q", m)
	}
	if m := kinds["cut"]; !strings.Contains(m, "World showed 3 of 5") || !strings.Contains(m, "2 cut at its limit of 3") {
		t.Errorf("cut: %q", m)
	}
	if _, ok := kinds["clipped"]; ok {
		t.Error("a small edition warned of clipping")
	}
	if len(v.Warnings) != 3 {
		t.Errorf("warnings: %+v", v.Warnings)
	}

	// Nothing new: the preview still shows the edition, and says send
	// would not build it.
	empty := newEnv(t)
	v = empty.render(empty.load(subscribers.DefaultList, ""), "")
	if len(v.Warnings) != 1 || v.Warnings[0].Kind != "nothing-new" {
		t.Errorf("empty edition warnings: %+v", v.Warnings)
	}
}

func TestClippingWarningPastGmailLimit(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("A long teaser sentence about the day's news. ", 4)
	for s := 0; s < 40; s++ {
		for i := 0; i < 3; i++ {
			e.add(fmt.Sprintf("Section %02d", s), fmt.Sprintf("Headline %d of section %d with enough words to wrap", i, s), long,
				fmt.Sprintf("https://news.example.com/%d/%d", s, i), time.Duration(s*3+i+1)*time.Minute, 0)
		}
	}
	v := e.render(e.load(subscribers.DefaultList, ""), "")
	if v.HTMLPartBytes <= preview.GmailClipBytes {
		t.Fatalf("test edition too small: %d bytes", v.HTMLPartBytes)
	}
	var found bool
	for _, w := range v.Warnings {
		if w.Kind == "clipped" && strings.Contains(w.Message, preview.FormatBytes(v.HTMLPartBytes)) {
			found = true
		}
	}
	if !found {
		t.Errorf("no clipping warning for %d bytes: %+v", v.HTMLPartBytes, v.Warnings)
	}
}

func TestCanonicalURL(t *testing.T) {
	same := [][2]string{
		{"https://news.example.com/a", "http://www.News.Example.com/a/"},
		{"https://news.example.com/a?id=1&x=2", "https://news.example.com/a?x=2&id=1&utm_medium=email"},
		{"https://news.example.com/a", "https://news.example.com/a#comments"},
	}
	for _, p := range same {
		if preview.CanonicalURL(p[0]) != preview.CanonicalURL(p[1]) {
			t.Errorf("%s and %s should be the same article", p[0], p[1])
		}
	}
	different := [][2]string{
		{"https://news.example.com/a", "https://news.example.com/b"},
		{"https://news.example.com/a?id=1", "https://news.example.com/a?id=2"},
		{"https://news.example.com/a", "https://other.example.com/a"},
	}
	for _, p := range different {
		if preview.CanonicalURL(p[0]) == preview.CanonicalURL(p[1]) {
			t.Errorf("%s and %s are different articles", p[0], p[1])
		}
	}
}

func TestRightToLeftListRendersRightToLeft(t *testing.T) {
	e := newEnv(t)
	if _, err := e.db.ExecContext(e.ctx, `INSERT INTO lists (name, title, from_addr, language, direction, created_at, updated_at)
		VALUES ('arabic', 'النشرة اليومية', 'News <news@example.com>', 'ar', 'rtl', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	e.add("العالم", "عنوان الخبر", "مقدمة الخبر", "https://news.example.com/ar", time.Hour, 0)
	srv := httptest.NewServer((&preview.Server{Source: e.src}).Handler())
	defer srv.Close()
	body, status := get(t, srv.URL+"/lists/arabic/next/html")
	if status != 200 || !strings.Contains(body, `<html lang="ar" dir="rtl"`) || !strings.Contains(body, "عنوان الخبر") {
		t.Fatalf("status %d, rtl HTML:\n%.300s", status, body)
	}
	ltr, _ := get(t, srv.URL+"/lists/daily/next/html")
	if !strings.Contains(ltr, `<html lang="en" dir="ltr"`) {
		t.Errorf("the default list is not left-to-right: %.200s", ltr)
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}

func TestServerPages(t *testing.T) {
	e := newEnv(t)
	e.sample()
	sub, _ := e.subs.Add(e.ctx, "ada@example.com", "Ada")
	srv := httptest.NewServer((&preview.Server{Source: e.src}).Handler())
	defer srv.Close()

	index, status := get(t, srv.URL+"/")
	if status != 200 || !strings.Contains(index, "The Daily Digest") || !strings.Contains(index, `href="/lists/daily/next"`) || !strings.Contains(index, "No stored edition yet") {
		t.Fatalf("index (%d):\n%s", status, index)
	}

	page, status := get(t, srv.URL+"/lists/daily/next")
	if status != 200 {
		t.Fatalf("edition page: %d\n%s", status, page)
	}
	for _, want := range []string{
		"Not stored: what send would build now",
		"<th>Subject</th>", "The Daily Digest, Sat 28 Nov 2026: Putin not ready to recognise Biden",
		"<th>From</th>", "digest@example.com",
		"<th>List-Unsubscribe</th>", "/u/" + preview.SampleToken,
		"102 KB clipping limit",
		`<iframe class="desktop"`, `width="1200"`, `<iframe class="mobile"`, `width="375"`,
		`src="/lists/daily/next/html"`,
		`<pre class="text" id="text">`, "READ MORE: https://news.example.com/putin",
		"Markets &lt;script&gt;alert(1)&lt;/script&gt; rally", "Stocks &amp; bonds",
		"No warnings.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("edition page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("a story field reached the preview page unescaped")
	}

	// Curation shows on reload, without a restart.
	id, _ := strconv.ParseInt(between(page, "<tr><td>", "</td>"), 10, 64)
	if _, err := e.stories.SetHidden(e.ctx, id, true); err != nil {
		t.Fatal(err)
	}
	page, _ = get(t, srv.URL+"/lists/daily/next")
	if strings.Contains(page, "Putin not ready") {
		t.Error("a hidden story still shows after reload")
	}
	e.add("Economy", "Brand new story", "Fresh.", "https://news.example.com/new", time.Minute, 0)
	page, _ = get(t, srv.URL+"/lists/daily/next")
	if !strings.Contains(page, "Brand new story") {
		t.Error("a new story does not show after reload")
	}

	// As a subscriber: their name and link, in every part.
	html, _ := get(t, srv.URL+"/lists/daily/next/html?as=ada@example.com")
	text, _ := get(t, srv.URL+"/lists/daily/next/text?as=ada@example.com")
	if !strings.Contains(html, "Hi Ada,") || !strings.Contains(text, "/u/"+sub.Token) {
		t.Error("?as= does not fill the subscriber's fields")
	}
	eml, _ := get(t, srv.URL+"/lists/daily/next/eml")
	if !strings.HasPrefix(eml, "") || !strings.Contains(eml, "List-Unsubscribe:") || !strings.Contains(eml, "multipart/alternative") {
		t.Error(".eml is not the message")
	}

	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/lists/nope/next", 404, "unknown list &#34;nope&#34;"},
		{"/lists/daily/28.11.2026", 404, "is not an edition date"},
		{"/lists/daily/2099-01-01", 400, "in the future"},
		{"/lists/daily/next?as=nobody@example.com", 404, "unknown subscriber"},
		{"/lists/daily/next?as=not-an-address", 400, "exactly one @"},
		{"/lists/daily/next/pdf", 404, "not a part"},
		{"/nowhere", 404, ""},
	} {
		body, status := get(t, srv.URL+tc.path)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: status %d (want %d), body lacks %q:\n%.400s", tc.path, status, tc.status, tc.want, body)
		}
	}
}

func between(s, a, b string) string { return storetest.Between(s, a, b) }

func TestListenOnTakenPortNamesThePort(t *testing.T) {
	addr := storetest.HoldPort(t)
	_, port, _ := net.SplitHostPort(addr)
	_, err := preview.Listen(addr)
	if err == nil || !strings.Contains(err.Error(), "port "+port+" is already in use") || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("got %v", err)
	}
	if !preview.IsLoopback(preview.DefaultAddr) || preview.IsLoopback("0.0.0.0:8025") {
		t.Error("IsLoopback")
	}
}
