package stories_test

import (
	"context"
	"errors"
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
			name:     "unknown field, one object per line",
			input:    lines(good, `{"section": "news", "title": "T", "url": "https://example.com/t", "headline": "x"}`),
			wantLine: 2, wantMsg: "headline",
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
			name:     "array: unknown field",
			input:    lines(`[`, `  {"section": "news", "title": "T", "url": "https://example.com/t", "headline": "x"}`, `]`),
			wantLine: 2, wantMsg: "headline",
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
