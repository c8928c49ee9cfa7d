package stories_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/newsroom/digest/stories"
)

// FuzzParse feeds `stories import` arbitrary files. A file is either
// refused with one line that points into it (a line number within the
// file), or every story it yields is already normalised (Normalize
// changes nothing and accepts it: one-line section and title, an
// absolute http(s) URL, a publication time), valid UTF-8, and survives
// being written back as JSON in either layout unchanged.
// Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data string) {
		got, err := stories.Parse(strings.NewReader(data), now)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Errorf("Parse: error is not one line of text: %q", msg)
			}
			var le *stories.LineError
			if errors.As(err, &le) && (le.Line < 1 || le.Line > strings.Count(data, "\n")+1) {
				t.Errorf("Parse: error names line %d of a %d-line file: %v", le.Line, strings.Count(data, "\n")+1, err)
			}
			return
		}
		for i, st := range got {
			again := st
			if err := stories.Normalize(&again); err != nil || again != st {
				t.Fatalf("story %d %+v is not normalised: %+v, %v", i, st, again, err)
			}
			for _, s := range []string{st.Section, st.Title, st.URL, st.Teaser} {
				if !utf8.ValidString(s) {
					t.Fatalf("story %d has text that is not UTF-8: %q", i, s)
				}
			}
		}
		if len(got) == 0 {
			return // "[]": nothing to write back (an empty file is refused)
		}
		lines, array := encode(t, got, "\n"), "["+encode(t, got, ",")+"]"
		for _, file := range []string{lines, array} {
			back, err := stories.Parse(strings.NewReader(file), now)
			if err != nil {
				t.Fatalf("the stories written back do not parse: %v\n%s", err, file)
			}
			if len(back) != len(got) {
				t.Fatalf("written back, %d stories became %d", len(got), len(back))
			}
			for i := range got {
				a, b := got[i], back[i]
				if !a.PublishedAt.Equal(b.PublishedAt) {
					t.Fatalf("story %d: published_at %v became %v", i, a.PublishedAt, b.PublishedAt)
				}
				a.PublishedAt, b.PublishedAt = time.Time{}, time.Time{}
				if a != b {
					t.Fatalf("story %d: %+v became %+v", i, a, b)
				}
			}
		}
	})
}

// encode writes stories in the import format, joined by sep.
func encode(t *testing.T, sts []stories.Story, sep string) string {
	var b bytes.Buffer
	for i, st := range sts {
		if i > 0 {
			b.WriteString(sep)
		}
		rec := map[string]any{"section": st.Section, "title": st.Title, "url": st.URL, "teaser": st.Teaser,
			"published_at": st.PublishedAt.Format(time.RFC3339Nano), "score": st.Score}
		line, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
	}
	return b.String()
}
