package stories_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/stories"
)

var importNow = time.Date(2026, 11, 28, 7, 30, 0, 0, time.UTC)

func TestParseValid(t *testing.T) {
	published := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	a := stories.Story{Section: "news", Title: "Budget passes", URL: "https://example.com/a", Teaser: "The council voted.", PublishedAt: published, Score: 2.5}
	b := stories.Story{Section: "sport", Title: "Late winner", URL: "https://example.com/b", PublishedAt: importNow}

	const arrayForm = `[
  {"section": "news", "title": "Budget passes", "url": "https://example.com/a", "teaser": "The council voted.", "published_at": "2026-11-27T18:00:00Z", "score": 2.5},
  {"section": "sport", "title": "Late winner", "url": "https://example.com/b"}
]
`
	const lineForm = `{"section": "news", "title": "Budget passes", "url": "https://example.com/a", "teaser": "The council voted.", "published_at": "2026-11-27T18:00:00Z", "score": 2.5}

   
{"section": "sport", "title": "Late winner", "url": "https://example.com/b"}

`
	tests := []struct {
		name  string
		input string
		want  []stories.Story
	}{
		{"array", arrayForm, []stories.Story{a, b}},
		{"array with BOM", "\uFEFF" + arrayForm, []stories.Story{a, b}},
		{"array with leading blank lines", "\n\n  " + arrayForm, []stories.Story{a, b}},
		{"empty array", "[]", nil},
		{"one object per line with blank lines", lineForm, []stories.Story{a, b}},
		{"one object per line with BOM", "\uFEFF" + lineForm, []stories.Story{a, b}},
		{"one object per line with CRLF", strings.ReplaceAll(lineForm, "\n", "\r\n"), []stories.Story{a, b}},
		{
			"published_at with offset",
			`{"section": "news", "title": "T", "url": "https://example.com/t", "published_at": "2026-11-28T09:00:00+02:00"}`,
			[]stories.Story{{Section: "news", Title: "T", URL: "https://example.com/t", PublishedAt: time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)}},
		},
		{
			"fields normalised",
			`{"section": " news ", "title": "Two\r\nlines", "url": " https://example.com/t ", "teaser": "  x  "}`,
			[]stories.Story{{Section: "news", Title: "Two lines", URL: "https://example.com/t", Teaser: "x", PublishedAt: importNow}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stories.Parse(strings.NewReader(tt.input), importNow)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d stories, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !got[i].PublishedAt.Equal(tt.want[i].PublishedAt) {
					t.Errorf("story %d PublishedAt = %v, want %v", i, got[i].PublishedAt, tt.want[i].PublishedAt)
				}
				// Compare the rest with the instants already checked.
				g, w := got[i], tt.want[i]
				g.PublishedAt, w.PublishedAt = time.Time{}, time.Time{}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("story %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const good = `{"section": "news", "title": "Fine", "url": "https://example.com/fine"}`
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

	tests := []struct {
		name     string
		input    string
		wantLine int    // 0: the error need not be a *LineError
		wantMsg  string // substring of the error message
	}{
		{name: "empty file", input: "", wantMsg: "empty"},
		{name: "only white space", input: " \n\r\n\t\n", wantMsg: "empty"},
		{name: "only a BOM", input: "\uFEFF", wantMsg: "empty"},
		{
			name:     "bad published_at",
			input:    `{"section": "news", "title": "T", "url": "https://example.com/t", "published_at": "28/11/2026"}`,
			wantLine: 1, wantMsg: "published_at",
		},
		{
			name:     "malformed JSON on line 3",
			input:    lines(good, good, `{"section": "news", "title": `, good),
			wantLine: 3, wantMsg: "line 3",
		},
		{
			name:     "malformed JSON on line 3 after a blank line",
			input:    lines(good, "", `{"section": "news" "title": "x"}`, good),
			wantLine: 3,
		},
		{
			name:     "invalid story on line 3",
			input:    lines(good, good, `{"section": "news", "title": "T", "url": "ftp://example.com/t"}`),
			wantLine: 3, wantMsg: "http(s)",
		},
		{
			name:     "two values on one line",
			input:    lines(good, good+" "+good),
			wantLine: 2,
		},
		{
			name:     "score that is no number",
			input:    lines(good, `{"section": "news", "title": "T", "url": "https://example.com/t", "score": "high"}`),
			wantLine: 2, wantMsg: `line 2: score "high" is not a number`,
		},
		{
			name:     "title that is no text",
			input:    lines(`{"section": "news", "title": 12, "url": "https://example.com/t"}`),
			wantLine: 1, wantMsg: "line 1: title 12 is not text",
		},
		{
			name:     "image that is no http(s) URL",
			input:    lines(`{"section": "news", "title": "T", "url": "https://example.com/t", "image": "javascript:alert(1)"}`),
			wantLine: 1, wantMsg: "image",
		},
		{
			name:     "a line that is no object",
			input:    lines(good, `[1, 2]`),
			wantLine: 2, wantMsg: "not a JSON story object",
		},
		{
			name: "array: invalid story on line 3",
			input: lines(
				`[`,
				`  `+good+`,`,
				`  {"section": "news", "title": "", "url": "https://example.com/t"},`,
				`  `+good,
				`]`),
			wantLine: 3, wantMsg: "title",
		},
		{
			name: "array: multi-line invalid story reported where it starts",
			input: lines(
				`[`,
				`  `+good,
				`  ,`,
				``,
				`  {`,
				`    "section": "news",`,
				`    "title": "T",`,
				`    "url": "javascript:alert(1)"`,
				`  }`,
				`]`),
			wantLine: 5, wantMsg: "http(s)",
		},
		{
			name:     "array: invalid first story",
			input:    lines(`[{"section": "", "title": "T", "url": "https://example.com/t"}]`),
			wantLine: 1, wantMsg: "section",
		},
		{
			name:     "array: unterminated",
			input:    lines(`[`, `  `+good+`,`),
			wantLine: -1,
		},
		{
			name:     "array: data after the array",
			input:    lines(`[`, `  `+good, `]`, good),
			wantLine: -1,
		},
		{
			name:     "array: bad published_at",
			input:    lines(`[`, `  `+good+`,`, `  {"section": "news", "title": "T", "url": "https://example.com/t", "published_at": "yesterday"}`, `]`),
			wantLine: 3, wantMsg: "published_at",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stories.Parse(strings.NewReader(tt.input), importNow)
			if err == nil {
				t.Fatalf("Parse succeeded with %d stories, want error", len(got))
			}
			if got != nil {
				t.Errorf("Parse returned %d stories with its error, want none", len(got))
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if tt.wantLine != 0 {
				var le *stories.LineError
				if !errors.As(err, &le) {
					t.Fatalf("error %v (%T) is not a *stories.LineError", err, err)
				}
				if tt.wantLine > 0 && le.Line != tt.wantLine {
					t.Errorf("LineError.Line = %d, want %d (error: %v)", le.Line, tt.wantLine, err)
				}
			}
		})
	}
}

// TestParseLineNumbersCountLeadingBlankLines checks that blank lines and a
// byte order mark before the first story still count toward the line
// numbers reported in errors.
func TestParseLineNumbersCountLeadingBlankLines(t *testing.T) {
	const good = `{"section": "news", "title": "Fine", "url": "https://example.com/fine"}`
	const bad = `{"section": "news", "title": "T", "url": "ftp://example.com/t"}`
	tests := []struct {
		name  string
		input string
		want  int
	}{
		{"one object per line", "\n" + good + "\n" + bad + "\n", 3},
		{"one object per line after BOM", "\uFEFF\n\n" + bad + "\n", 3},
		{"array", "\n\n[\n" + bad + "\n]\n", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stories.Parse(strings.NewReader(tt.input), importNow)
			var le *stories.LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *stories.LineError", err)
			}
			if got, want := le.Line, tt.want; got != want {
				t.Errorf("LineError.Line = %d, want %d (error: %v)", got, want, err)
			}
		})
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	input := `{"section": "news", "title": "Budget passes", "url": "https://example.com/a", "published_at": "2026-11-27T18:00:00Z", "score": 1.5}

{"section": "sport", "title": "Late winner", "url": "https://example.com/b"}
`
	n, err := s.Import(ctx, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, 2; got != want {
		t.Errorf("Import count = %d, want %d", got, want)
	}
	var got []stories.Story
	if err := s.List(ctx, func(st stories.Story) error {
		st.ID = 0
		got = append(got, st)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []stories.Story{
		// Missing published_at defaults to the store's clock.
		{Section: "sport", Title: "Late winner", URL: "https://example.com/b", PublishedAt: testNow},
		{Section: "news", Title: "Budget passes", URL: "https://example.com/a", PublishedAt: time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC), Score: 1.5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored stories = %+v, want %+v", got, want)
	}
	wantSections(t, s, "news", "sport")

	// Re-importing the same file updates in place.
	if _, err := s.Import(ctx, strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	if got, want := countRows(t, db, "stories"), 2; got != want {
		t.Errorf("stories rows after re-import = %d, want %d", got, want)
	}
}

func TestImportWithErrorStoresNothing(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  int
	}{
		{
			name: "malformed line 3",
			input: strings.Join([]string{
				`{"section": "news", "title": "One", "url": "https://example.com/1"}`,
				`{"section": "sport", "title": "Two", "url": "https://example.com/2"}`,
				`{"section": "culture", "title": "Three", "url": `,
				`{"section": "news", "title": "Four", "url": "https://example.com/4"}`,
			}, "\n"),
			line: 3,
		},
		{
			name: "invalid story at the end of an array",
			input: strings.Join([]string{
				`[`,
				`{"section": "news", "title": "One", "url": "https://example.com/1"},`,
				`{"section": "sport", "title": "Two", "url": "https://example.com/2"},`,
				`{"section": "culture", "title": "Three", "url": "example.com/3"}`,
				`]`,
			}, "\n"),
			line: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, db := newStore(t)
			n, err := s.Import(ctx, strings.NewReader(tt.input))
			var le *stories.LineError
			if !errors.As(err, &le) {
				t.Fatalf("Import error = %v, want a *stories.LineError", err)
			}
			if got, want := le.Line, tt.line; got != want {
				t.Errorf("LineError.Line = %d, want %d", got, want)
			}
			if got, want := n, 0; got != want {
				t.Errorf("Import count = %d, want %d", got, want)
			}
			for _, table := range []string{"stories", "sections"} {
				if got, want := countRows(t, db, table), 0; got != want {
					t.Errorf("%s rows after failed import = %d, want %d", table, got, want)
				}
			}
		})
	}
}

// TestParseCMSExport reads what a CMS exports: fields digest does not
// know (ignored and counted), numbers written as strings, feed-style
// times, an image and a byline.
func TestParseCMSExport(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	for i := range 34 {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"section": "weather", "title": "Story %d", "url": "https://example.com/%d", "author": "Desk", "score": "%d", "published_at": "Sat, 28 Nov 2026 06:%02d:00 GMT"`, i, i, i%5, i)
		if i < 2 {
			b.WriteString(`, "tags": ["a"], "image": "https://cdn.example.com/p.jpg", "byline": "Ada Lovelace"`)
		}
		b.WriteString("}")
	}
	b.WriteString("\n]\n")
	res, err := stories.ParseWith(strings.NewReader(b.String()), importNow, stories.ImportOptions{})
	if err != nil {
		t.Fatalf("ParseWith: %v", err)
	}
	if len(res.Stories) != 34 {
		t.Fatalf("got %d stories, want 34", len(res.Stories))
	}
	if got, want := res.IgnoredSummary(), "ignored fields: author (34 rows), tags (2 rows)"; got != want {
		t.Errorf("IgnoredSummary = %q, want %q", got, want)
	}
	st := res.Stories[3]
	if st.Score != 3 || !st.PublishedAt.Equal(time.Date(2026, 11, 28, 6, 3, 0, 0, time.UTC)) {
		t.Errorf("story 3: score %v, published %v; want 3 and 06:03 UTC", st.Score, st.PublishedAt)
	}
	if got := res.Stories[0]; got.Image != "https://cdn.example.com/p.jpg" || got.Byline != "Ada Lovelace" {
		t.Errorf("story 0 image %q byline %q", got.Image, got.Byline)
	}
}

func TestParseTimeForms(t *testing.T) {
	want := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	for _, in := range []string{
		"2026-11-28T06:00:00Z",
		"2026-11-28T07:00:00+01:00",
		"2026-11-28T06:00:00.000Z",
		"2026-11-28T06:00Z",
		"Sat, 28 Nov 2026 06:00:00 +0000",
		"Sat, 28 Nov 2026 06:00:00 GMT",
		"Sat, 28 Nov 2026 06:00:00 Z",
		"Sat, 28 Nov 2026 06:00 GMT",
		"Sat, 28 Nov 2026 01:00:00 EST",
		"Sat, 28 Nov 2026 08:00 +0200",
		"28 Nov 2026 06:00:00 +0000",
	} {
		got, err := stories.ParseTime(in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", in, err)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, want %v", in, got, want)
		}
	}
	if _, err := stories.ParseTime("yesterday"); err == nil || !strings.Contains(err.Error(), "RFC 1123") {
		t.Errorf("ParseTime(yesterday) error = %v, want one naming the forms", err)
	}
}

// TestParseSkipBad imports the good lines and names the bad ones with
// their line numbers, an over-long line in words.
func TestParseSkipBad(t *testing.T) {
	const good = `{"section": "news", "title": "Fine %d", "url": "https://example.com/fine%d"}`
	long := `{"section": "news", "title": "` + strings.Repeat("x", stories.MaxLineBytes) + `", "url": "https://example.com/long"}`
	input := strings.Join([]string{
		fmt.Sprintf(good, 1, 1),
		`{"section": "news", "title": "T", "url": "https://example.com/t", "score": "high"}`,
		long,
		fmt.Sprintf(good, 2, 2),
		`not json`,
		fmt.Sprintf(good, 3, 3),
	}, "\n")
	res, err := stories.ParseWith(strings.NewReader(input), importNow, stories.ImportOptions{SkipBad: true})
	if err != nil {
		t.Fatalf("ParseWith --skip-bad: %v", err)
	}
	if len(res.Stories) != 3 {
		t.Errorf("got %d good stories, want 3", len(res.Stories))
	}
	var got []string
	for _, le := range res.Bad {
		got = append(got, le.Error())
	}
	want := []string{`line 2: score "high" is not a number`, "line 3: the line is longer than the limit of 16 MiB", "line 5: not a JSON story object"}
	if len(got) != len(want) {
		t.Fatalf("bad lines = %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("bad line %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
	// Without --skip-bad the over-long line fails the file in words.
	_, err = stories.Parse(strings.NewReader(fmt.Sprintf(good, 1, 1)+"\n"+long+"\n"), importNow)
	if err == nil || !strings.Contains(err.Error(), "line 2: the line is longer than the limit") || strings.Contains(err.Error(), "bufio") {
		t.Errorf("over-long line error = %v", err)
	}
}

// TestImportStripsInvisibleCharacters keeps a headline from showing
// reversed or a teaser from hiding text.
func TestImportStripsInvisibleCharacters(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Import(context.Background(), strings.NewReader(`{"section": "ne\u200Bws", "title": "Sale \u202Egnp.exe", "url": "https://example.com/x", "teaser": "zero\u200Bwidth\u2066", "byline": "A\u200F B"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got stories.Story
	s.List(context.Background(), func(st stories.Story) error { got = st; return nil })
	if got.Title != "Sale gnp.exe" || got.Teaser != "zerowidth" || got.Section != "news" || got.Byline != "A B" {
		t.Errorf("stored %+v: invisible characters left in", got)
	}
}
