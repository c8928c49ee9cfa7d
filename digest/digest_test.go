package digest_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type env struct {
	ctx     context.Context
	db      *store.DB
	clock   *clock.Manual
	stories *stories.Store
	eds     *digest.Editions
	list    subscribers.List
}

func newEnv(t testing.TB, now time.Time) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	c := clock.NewManual(now)
	subs := &subscribers.Store{DB: db, Now: c.Now}
	list, err := subs.GetList(ctx, subscribers.DefaultList)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, db: db, clock: c, stories: &stories.Store{DB: db, Now: c.Now}, eds: &digest.Editions{DB: db, Now: c.Now}, list: list}
}

// add stores a story published ago before the clock's time, stored when
// it was published (as a feed polled at once would store it).
func (e *env) add(t *testing.T, section, title string, ago time.Duration, score float64) int64 {
	t.Helper()
	st := stories.Story{Section: section, Title: title, URL: "https://news.example.com/" + strings.ReplaceAll(strings.ToLower(title), " ", "-"),
		Teaser: "Teaser of " + title, PublishedAt: e.clock.Now().Add(-ago), Score: score}
	if err := e.stories.Add(e.ctx, &st); err != nil {
		t.Fatal(err)
	}
	if ago > 0 {
		e.exec(t, `UPDATE stories SET created_at = published_at WHERE id = ?`, st.ID)
	}
	return st.ID
}

func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.db.ExecContext(e.ctx, q, args...); err != nil {
		t.Fatal(err)
	}
}

// titles flattens a selection to "Section: title" lines, in order.
func titles(sel digest.Selection) (blocks, more []string) {
	for _, b := range sel.Blocks {
		for _, st := range b.Stories {
			blocks = append(blocks, b.Section.Name+": "+st.Title)
		}
	}
	for _, st := range sel.More {
		more = append(more, st.Section+": "+st.Title)
	}
	return blocks, more
}

var morning = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func TestSelect(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, e *env)
		wantBlocks []string
		wantMore   []string
	}{
		{
			name: "pinned first, then score, then recency",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "High score", 3*time.Hour, 10)
				e.add(t, "World", "Older equal", 5*time.Hour, 5)
				e.add(t, "World", "Newer equal", 1*time.Hour, 5)
				id := e.add(t, "World", "Pinned low", 2*time.Hour, 0)
				e.exec(t, `UPDATE stories SET pinned = 1 WHERE id = ?`, id)
				e.exec(t, `UPDATE sections SET max_stories = 4`)
			},
			wantBlocks: []string{"World: Pinned low", "World: High score", "World: Newer equal", "World: Older equal"},
		},
		{
			name: "first edition takes what is younger than the max age, nothing from the future",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "Fresh", 23*time.Hour, 0)
				e.add(t, "World", "Older", 47*time.Hour, 0)
				e.add(t, "World", "Stale", 49*time.Hour, 0)
				e.add(t, "World", "Future", -time.Hour, 0)
			},
			wantBlocks: []string{"World: Fresh", "World: Older"},
		},
		{
			name: "max per section, the rest under more headlines newest first",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "A", 4*time.Hour, 4)
				e.add(t, "World", "B", 3*time.Hour, 3)
				e.add(t, "World", "C", 2*time.Hour, 2)
				e.add(t, "World", "D", 1*time.Hour, 1)
				e.exec(t, `UPDATE sections SET max_stories = 2`)
			},
			wantBlocks: []string{"World: A", "World: B"},
			wantMore:   []string{"World: D", "World: C"},
		},
		{
			name: "sections in display order, empty and hidden left out",
			setup: func(t *testing.T, e *env) {
				e.add(t, "Economy", "Markets", time.Hour, 0)
				e.add(t, "Americas", "Election", time.Hour, 0)
				id := e.add(t, "Sport", "Hidden match", time.Hour, 0)
				e.exec(t, `UPDATE stories SET hidden = 1 WHERE id = ?`, id)
				e.add(t, "Weather", "Last week", 72*time.Hour, 0)
				e.exec(t, `UPDATE sections SET display_order = 1 WHERE name = 'Americas'`)
				e.exec(t, `UPDATE sections SET display_order = 2 WHERE name = 'Economy'`)
			},
			wantBlocks: []string{"Americas: Election", "Economy: Markets"},
		},
		{
			name: "a section with max 0 gives headlines only",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "Lead", time.Hour, 0)
				e.add(t, "Technology", "Phones", 2*time.Hour, 0)
				e.exec(t, `UPDATE sections SET max_stories = 0 WHERE name = 'Technology'`)
			},
			wantBlocks: []string{"World: Lead"},
			wantMore:   []string{"Technology: Phones"},
		},
		{
			name: "list section filter",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "Kept", time.Hour, 0)
				e.add(t, "Sport", "Dropped", time.Hour, 0)
				e.exec(t, `UPDATE lists SET sections = 'world' WHERE name = 'daily'`)
				e.list.Sections = []string{"world"}
			},
			wantBlocks: []string{"World: Kept"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, morning)
			tt.setup(t, e)
			sel, err := e.eds.Select(e.ctx, e.list, "2026-11-28")
			if err != nil {
				t.Fatal(err)
			}
			gotBlocks, gotMore := titles(sel)
			if !reflect.DeepEqual(gotBlocks, tt.wantBlocks) {
				t.Errorf("blocks:\n got %q\nwant %q", gotBlocks, tt.wantBlocks)
			}
			if !reflect.DeepEqual(gotMore, tt.wantMore) {
				t.Errorf("more:\n got %q\nwant %q", gotMore, tt.wantMore)
			}
		})
	}
}

func TestSelectCutCount(t *testing.T) {
	e := newEnv(t, morning)
	for _, title := range []string{"A", "B", "C", "D", "E"} {
		e.add(t, "World", title, time.Hour, 0)
	}
	sel, err := e.eds.Select(e.ctx, e.list, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sel.Blocks[0].Cut, 2; got != want {
		t.Fatalf("cut = %d, want %d", got, want)
	}
}

func TestNextEditionSkipsSentStoriesAndStartsAtPreviousWindow(t *testing.T) {
	e := newEnv(t, morning.AddDate(0, 0, -1))
	e.add(t, "World", "Yesterday lead", 2*time.Hour, 0)
	e.add(t, "World", "Yesterday second", 3*time.Hour, 0)
	first, created, err := e.eds.Build(e.ctx, digest.Composer{}, e.list, "", false)
	if err != nil || !created {
		t.Fatalf("first build: created=%v err=%v", created, err)
	}
	// A story published before yesterday's edition but sent in it must not
	// return; one published after it must.
	e.clock.Set(morning)
	e.add(t, "World", "Today", time.Hour, 0)
	sel, err := e.eds.Select(e.ctx, e.list, "")
	if err != nil {
		t.Fatal(err)
	}
	if !sel.WindowStart.Equal(first.WindowEnd) {
		t.Errorf("window starts %s, want previous edition's end %s", sel.WindowStart, first.WindowEnd)
	}
	got, _ := titles(sel)
	if want := []string{"World: Today"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A story republished (same URL, new time) after being sent is not sent again.
	e.exec(t, `UPDATE stories SET published_at = ? WHERE title = 'Yesterday lead'`, morning.Add(-time.Minute).Unix())
	sel, _ = e.eds.Select(e.ctx, e.list, "")
	if got, _ := titles(sel); len(got) != 1 {
		t.Errorf("already-sent story selected again: %q", got)
	}
}

func TestBuildNothingNew(t *testing.T) {
	e := newEnv(t, morning)
	_, _, err := e.eds.Build(e.ctx, digest.Composer{}, e.list, "", false)
	if !errors.Is(err, digest.ErrNothingNew) {
		t.Fatalf("got %v, want ErrNothingNew", err)
	}
	var n int
	e.db.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM editions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d editions stored after nothing new", n)
	}
	ed, created, err := e.eds.Build(e.ctx, digest.Composer{}, e.list, "", true)
	if err != nil || !created || !strings.Contains(ed.HTML, "No new stories") {
		t.Fatalf("forced build: created=%v err=%v", created, err)
	}
}

func TestBuildIsStoredAndReused(t *testing.T) {
	e := newEnv(t, morning)
	e.add(t, "World", "Lead", time.Hour, 0)
	ed, created, err := e.eds.Build(e.ctx, digest.Composer{}, e.list, "2026-11-28", false)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	// New stories after the build do not change the stored edition.
	e.add(t, "World", "Late", time.Minute, 100)
	again, created, err := e.eds.Build(e.ctx, digest.Composer{}, e.list, "2026-11-28", false)
	if err != nil || created {
		t.Fatalf("second build: created=%v err=%v", created, err)
	}
	if again.HTML != ed.HTML || again.Text != ed.Text || again.Subject != ed.Subject || !reflect.DeepEqual(again.StoryIDs, ed.StoryIDs) {
		t.Fatal("stored edition differs from the built one")
	}
	if !again.WindowStart.Equal(ed.WindowStart) || !again.WindowEnd.Equal(ed.WindowEnd) {
		t.Fatal("stored window differs")
	}
}

func TestDateValidation(t *testing.T) {
	e := newEnv(t, morning)
	for _, date := range []string{"2026-11-29", "28/11/2026", "yesterday"} {
		if _, err := e.eds.Select(e.ctx, e.list, date); err == nil {
			t.Errorf("date %q accepted", date)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Short teaser.", 40, "Short teaser."},
		{"'We will work with anyone who has the confidence of the American people'", 50, "'We will work with anyone who has the..."},
		{"Word boundary exactly here and more", 29, "Word boundary exactly here..."},
		{"Word boundary exactly here and more", 28, "Word boundary exactly..."},
		{"Ünïcödé wörds äre cöunted äs runes", 20, "Ünïcödé wörds äre..."},
		{"Supercalifragilisticexpialidocious", 10, "Superca..."},
		{"Two words", 2, ".."},
		{"Two words", 0, ""},
		{"caf\xe9 au lait and more", 12, "caf\uFFFD au..."},
	}
	for _, tt := range tests {
		got := digest.Truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if n := len([]rune(got)); n > tt.max {
			t.Errorf("Truncate(%q, %d) is %d runes long", tt.in, tt.max, n)
		}
	}
}

// fixedSelection is the edition the golden files show.
func fixedSelection() digest.Selection {
	pub := time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC)
	return digest.Selection{
		List: subscribers.List{ID: 1, Name: "daily", Title: "The Daily Digest", PostalAddress: "1 Newsroom Street, Springfield", Language: "en", Direction: "ltr"},
		Date: "2026-11-28",
		Blocks: []digest.Block{
			{Section: stories.Section{Name: "Americas"}, Stories: []stories.Story{
				{ID: 1, Section: "Americas", Title: "Not ready to recognise Joe Biden as US president: Putin", URL: "https://news.example.com/putin?a=1&b=2",
					Teaser: "'We will work with anyone who has the confidence of the American people,' Putin said on Russian state TV, adding that the decision not to congratulate Biden is a formality.", PublishedAt: pub,
					Image: "https://news.example.com/images/putin-1200x675.jpg", Byline: "Ada Lovelace & Charles Babbage"},
				{ID: 2, Section: "Americas", Title: `Escaping <script>alert("x")</script> & "quotes"`, URL: "https://news.example.com/escape", Teaser: "<b>not bold</b>", PublishedAt: pub},
			}},
			{Section: stories.Section{Name: "Economy"}, Stories: []stories.Story{
				{ID: 3, Section: "Economy", Title: "UAE's GDP to grow 3.6% in 2021: Central Bank", URL: "https://news.example.com/gdp", PublishedAt: pub},
			}},
		},
		More: []stories.Story{
			{ID: 4, Section: "Technology", Title: "Revealed: Top 3 selling smartphones in the UAE", URL: "https://news.example.com/phones", PublishedAt: pub},
		},
	}
}

// goldenBrand is the golden edition's brand: a name and link of the
// newsroom's, the default accent.
var goldenBrand = templates.Brand{Name: "Springfield Shopper", Link: "https://shopper.example.com/"}

func TestComposeGolden(t *testing.T) {
	ed, err := digest.Composer{BaseURL: "https://news.example.com", Brand: goldenBrand}.Compose(fixedSelection())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "edition.golden.html", ed.HTML)
	golden(t, "edition.golden.txt", ed.Text)
	if got, want := ed.Subject, "The Daily Digest, Sat 28 Nov 2026: Not ready to recognise Joe Biden as US president: Putin"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
	if got, want := ed.StoryIDs, []int64{1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("story ids = %v, want %v", got, want)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./digest -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered edition; if the change is intended run go test ./digest -update and review the diff", path)
	}
}

func TestComposeEscapesAndStructures(t *testing.T) {
	ed, err := digest.Composer{BaseURL: "https://news.example.com"}.Compose(fixedSelection())
	if err != nil {
		t.Fatal(err)
	}
	h := ed.HTML
	if strings.Contains(h, "<script>") || strings.Contains(h, "<b>not bold</b>") {
		t.Error("story fields reached the HTML unescaped")
	}
	if !strings.Contains(h, "&lt;script&gt;") {
		t.Error("escaped title missing")
	}
	for _, want := range []string{`lang="en"`, `dir="ltr"`, "READ MORE", "More headlines", "1 Newsroom Street", "Unsubscribe", "https://news.example.com/archive/daily/2026-11-28", "Saturday, 28 November 2026", "27 November 2026"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Sections appear in order, then the headline list, then the footer.
	order := []string{"Americas", "Economy", "More headlines", "Technology", "Unsubscribe"}
	last := -1
	for _, s := range order {
		i := strings.Index(h[last+1:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order", s)
		}
		last += i + 1
	}
	// The teaser is cut at a word boundary with an ellipsis.
	if !strings.Contains(h, "decision not to...") && !strings.Contains(h, "...") {
		t.Error("long teaser not truncated with an ellipsis")
	}
	// The text part carries the same stories and links.
	for _, want := range []string{"Not ready to recognise Joe Biden", "https://news.example.com/putin?a=1&b=2", `Escaping <script>alert("x")</script>`, "https://news.example.com/phones", "Unsubscribe:\n[[digest:unsubscribe_url]]"} {
		if !strings.Contains(ed.Text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

func TestComposeRightToLeft(t *testing.T) {
	sel := fixedSelection()
	sel.List.Direction, sel.List.Language = "rtl", "ar"
	ed, err := digest.Composer{}.Compose(sel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ed.HTML, `dir="rtl"`) || !strings.Contains(ed.HTML, `lang="ar"`) {
		t.Fatal("rtl list not rendered right-to-left")
	}
}

func TestPersonalizeEscapesPersonalFields(t *testing.T) {
	ed, err := digest.Composer{}.Compose(fixedSelection())
	if err != nil {
		t.Fatal(err)
	}
	html, text := ed.Personalize(digest.Recipient{Name: `Eve <img src=x onerror=alert(1)>`, UnsubscribeURL: `https://news.example.com/u/abc"><script>`})
	if strings.Contains(html, "<img src=x") || strings.Contains(html, `"><script>`) {
		t.Fatal("personal fields reached the HTML unescaped")
	}
	if !strings.Contains(html, "Hi Eve &lt;img src=x onerror=alert(1)&gt;") {
		t.Error("escaped greeting missing")
	}
	if strings.Contains(html, "[[digest:") || strings.Contains(text, "[[digest:") {
		t.Error("placeholder left unfilled")
	}
	if !strings.Contains(text, "Hi Eve <img src=x onerror=alert(1)>, here") {
		t.Error("text greeting should carry the name as is")
	}
	anon, _ := ed.Personalize(digest.Recipient{UnsubscribeURL: "https://x/u/t"})
	if !strings.Contains(anon, "Here are today&#39;s top stories.") {
		t.Error("greeting without a name")
	}
}
