package stories_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/newsroom/digest/stories"
)

// storiesArray is n stories as a JSON array, one per line after "[".
func storiesArray(n int, bad int) string {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 1; i <= n; i++ {
		url := fmt.Sprintf("https://example.com/%d", i)
		if i == bad {
			url = "not a url"
		}
		fmt.Fprintf(&b, `{"section": "s%d", "title": "Story %d", "url": %q}`, i%3, i, url)
		if i < n {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return b.String()
}

// A bad story after thousands of good ones, many staged batches in,
// leaves the store untouched and is reported at its own line, in an
// array too, whose bytes are no longer all held.
func TestLargeImportIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	n, err := s.Import(ctx, strings.NewReader(storiesArray(5000, 4321)))
	var le *stories.LineError
	if !errors.As(err, &le) || le.Line != 4322 || n != 0 {
		t.Fatalf("Import: %d, %v; want a LineError at line 4322", n, err)
	}
	for _, table := range []string{"stories", "sections"} {
		if got := countRows(t, db, table); got != 0 {
			t.Errorf("%s rows after a failed import = %d, want 0", table, got)
		}
	}
	if n, err := s.Import(ctx, strings.NewReader(storiesArray(5000, 0))); err != nil || n != 5000 || countRows(t, db, "stories") != 5000 {
		t.Fatalf("good file: %d, %v, %d rows", n, err, countRows(t, db, "stories"))
	}
}

// A URL given twice in one file ends as its last line says, as when the
// stories were stored one by one.
func TestImportSameURLTwiceKeepsTheLast(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	in := `{"section": "news", "title": "First", "url": "https://example.com/x"}
{"section": "sport", "title": "Second", "url": "https://example.com/x"}
`
	if n, err := s.Import(ctx, strings.NewReader(in)); err != nil || n != 2 {
		t.Fatalf("Import: %d, %v", n, err)
	}
	var title, section string
	if err := db.QueryRow(`SELECT s.title, c.name FROM stories s JOIN sections c ON c.id = s.section_id`).Scan(&title, &section); err != nil {
		t.Fatal(err)
	}
	if title != "Second" || section != "sport" || countRows(t, db, "stories") != 1 {
		t.Errorf("stored %q in %q (%d rows), want the last line's", title, section, countRows(t, db, "stories"))
	}
}

// The staged import keeps what the format carries beyond the basics
// (image, byline, a score given as text, a feed's date form) and, with
// SkipBad, stores the good stories of a file with bad ones in it,
// counting both.
func TestStagedImportKeepsImageBylineAndSkipsBad(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	in := `{"section": "news", "title": "Good", "url": "https://example.com/g", "image": "https://cdn.example.com/g.jpg", "byline": "Ada Lovelace", "score": "4", "published_at": "Sat, 28 Nov 2026 06:00 GMT", "author": "Desk"}
{"section": "news", "title": "Bad", "url": "not a url"}
{"section": "news", "title": "Also good", "url": "https://example.com/h"}
`
	res, err := s.ImportWith(ctx, strings.NewReader(in), stories.ImportOptions{SkipBad: true})
	if err != nil {
		t.Fatalf("ImportWith: %v", err)
	}
	if res.Imported != 2 || len(res.Bad) != 1 || res.Bad[0].Line != 2 || res.Ignored["author"] != 1 {
		t.Fatalf("result: imported %d, bad %v, ignored %v; want 2, line 2, author once", res.Imported, res.Bad, res.Ignored)
	}
	var image, byline string
	var score float64
	var published int64
	if err := db.QueryRow(`SELECT image, byline, score, published_at FROM stories WHERE url = 'https://example.com/g'`).Scan(&image, &byline, &score, &published); err != nil {
		t.Fatal(err)
	}
	if image != "https://cdn.example.com/g.jpg" || byline != "Ada Lovelace" || score != 4 || published != 1795845600 {
		t.Errorf("stored image %q byline %q score %v published %d", image, byline, score, published)
	}
	if got := countRows(t, db, "stories"); got != 2 {
		t.Errorf("stories rows = %d, want 2", got)
	}
}
