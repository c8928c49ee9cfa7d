package stories_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
)

var testNow = time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)

// newStore opens a fresh SQLite database with a fixed clock.
func newStore(t *testing.T) (*stories.Store, *store.DB) {
	t.Helper()
	db := storetest.Open(t)
	return &stories.Store{DB: db, Now: func() time.Time { return testNow }}, db
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	return storetest.Count(t, db, `SELECT COUNT(*) FROM `+table)
}

func TestNormalize(t *testing.T) {
	valid := func() stories.Story {
		return stories.Story{
			Section:     "news",
			Title:       "Council approves budget",
			URL:         "https://example.com/budget",
			PublishedAt: testNow,
		}
	}
	tests := []struct {
		name    string
		edit    func(*stories.Story)
		wantErr string // substring of the error; "" means no error
		want    func(*stories.Story)
	}{
		{name: "valid https", edit: func(*stories.Story) {}},
		{
			name: "valid http",
			edit: func(s *stories.Story) { s.URL = "http://example.com/a" },
			want: func(s *stories.Story) { s.URL = "http://example.com/a" },
		},
		{name: "missing title", edit: func(s *stories.Story) { s.Title = "" }, wantErr: "title"},
		{name: "blank title", edit: func(s *stories.Story) { s.Title = " \r\n\t " }, wantErr: "title"},
		{name: "missing url", edit: func(s *stories.Story) { s.URL = "" }, wantErr: "url"},
		{name: "ftp url", edit: func(s *stories.Story) { s.URL = "ftp://example.com/file" }, wantErr: "http(s)"},
		{name: "javascript url", edit: func(s *stories.Story) { s.URL = "javascript:alert(1)" }, wantErr: "http(s)"},
		{name: "relative url", edit: func(s *stories.Story) { s.URL = "/news/budget" }, wantErr: "http(s)"},
		{name: "scheme without host", edit: func(s *stories.Story) { s.URL = "https:///path" }, wantErr: "http(s)"},
		{name: "missing section", edit: func(s *stories.Story) { s.Section = "" }, wantErr: "section"},
		{name: "missing publication time", edit: func(s *stories.Story) { s.PublishedAt = time.Time{} }, wantErr: "publication"},
		{
			name: "title with CR LF collapsed to one line",
			edit: func(s *stories.Story) { s.Title = "  Council\r\napproves\n\nbudget  " },
			want: func(s *stories.Story) { s.Title = "Council approves budget" },
		},
		{
			name: "section and url trimmed",
			edit: func(s *stories.Story) { s.Section = " news\n"; s.URL = " https://example.com/budget\t" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := valid()
			tt.edit(&got)
			err := stories.Normalize(&got)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Normalize(%+v) = nil, want error about %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Errorf("error %q is not one line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			want := valid()
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func sectionNames(secs []stories.Section) []string {
	var out []string
	for _, s := range secs {
		out = append(out, s.Name)
	}
	return out
}

// wantSections reads the sections and fails t unless their names are
// want, in order; it returns them for further checks.
func wantSections(t *testing.T, s *stories.Store, want ...string) []stories.Section {
	t.Helper()
	secs, err := s.Sections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := sectionNames(secs); !reflect.DeepEqual(got, want) {
		t.Fatalf("sections = %v, want %v", got, want)
	}
	return secs
}

func TestAddCreatesSectionsInOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	for i, sec := range []string{"news", "sport", "news", "culture"} {
		st := &stories.Story{Section: sec, Title: "Story", URL: "https://example.com/" + string(rune('a'+i))}
		if err := s.Add(ctx, st); err != nil {
			t.Fatalf("Add %s: %v", sec, err)
		}
		if st.ID == 0 {
			t.Errorf("Add %s: story got no id", sec)
		}
		if !st.PublishedAt.Equal(testNow) {
			t.Errorf("Add without time: PublishedAt = %v, want store clock %v", st.PublishedAt, testNow)
		}
	}
	secs := wantSections(t, s, "news", "sport", "culture")
	for i, sec := range secs {
		if got, want := sec.MaxStories, stories.DefaultMaxStories; got != want {
			t.Errorf("section %s max = %d, want %d", sec.Name, got, want)
		}
		if got, want := sec.MaxStories, 3; got != want {
			t.Errorf("section %s max = %d, want %d", sec.Name, got, want)
		}
		if i > 0 && sec.Order <= secs[i-1].Order {
			t.Errorf("section %s order %d not after %s order %d", sec.Name, sec.Order, secs[i-1].Name, secs[i-1].Order)
		}
		// A slug name an import created reads as a title until an
		// editor sets one.
		if got, want := sec.DisplayName(), strings.ToUpper(sec.Name[:1])+sec.Name[1:]; got != want || !sec.TitleAutomatic() {
			t.Errorf("DisplayName = %q (automatic %v), want %q, automatic (no title set)", got, sec.TitleAutomatic(), want)
		}
	}

	// A new section is appended after existing ones even when they were
	// moved to a high position.
	high := 10
	if _, err := s.SetSection(ctx, "sport", stories.SectionChange{Order: &high}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, &stories.Story{Section: "weather", Title: "Rain", URL: "https://example.com/rain"}); err != nil {
		t.Fatal(err)
	}
	secs = wantSections(t, s, "news", "culture", "sport", "weather")
	if got, want := secs[3].Order, high+1; got != want {
		t.Errorf("weather order = %d, want %d", got, want)
	}
}

func TestAddExistingURLUpdatesButKeepsCuration(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	first := &stories.Story{Section: "news", Title: "Old title", URL: "https://example.com/a", Teaser: "old teaser"}
	if err := s.Add(ctx, first); err != nil {
		t.Fatal(err)
	}
	if first.Pinned || first.Hidden {
		t.Fatalf("new story pinned=%v hidden=%v, want false false", first.Pinned, first.Hidden)
	}
	if _, err := db.ExecContext(ctx, `UPDATE stories SET pinned = 1, hidden = 1 WHERE id = ?`, first.ID); err != nil {
		t.Fatal(err)
	}

	again := &stories.Story{Section: "news", Title: "New title", URL: "https://example.com/a", Teaser: "new teaser", Score: 4}
	if err := s.Add(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, want := again.ID, first.ID; got != want {
		t.Errorf("re-added story id = %d, want %d", got, want)
	}
	if got, want := countRows(t, db, "stories"), 1; got != want {
		t.Errorf("stories rows = %d, want %d", got, want)
	}
	got, err := s.Get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := stories.Story{
		ID: first.ID, Section: "news", Title: "New title", URL: "https://example.com/a",
		Teaser: "new teaser", PublishedAt: testNow, Score: 4, Pinned: true, Hidden: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if !again.Pinned || !again.Hidden {
		t.Errorf("Add returned pinned=%v hidden=%v, want the stored true true", again.Pinned, again.Hidden)
	}
}

func TestAddRejectsInvalidStory(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	err := s.Add(ctx, &stories.Story{Section: "news", Title: "Bad", URL: "javascript:alert(1)"})
	if err == nil {
		t.Fatal("Add with javascript: url succeeded, want error")
	}
	if got, want := countRows(t, db, "stories"), 0; got != want {
		t.Errorf("stories rows = %d, want %d", got, want)
	}
	if got, want := countRows(t, db, "sections"), 0; got != want {
		t.Errorf("sections rows = %d, want %d", got, want)
	}
}

func TestListNewestFirst(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	add := func(url string, at time.Time) {
		t.Helper()
		if err := s.Add(ctx, &stories.Story{Section: "news", Title: url, URL: "https://example.com/" + url, PublishedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("middle", testNow.Add(-2*time.Hour))
	add("newest", testNow)
	add("oldest", testNow.Add(-48*time.Hour))
	add("tie-first", testNow.Add(-time.Hour))
	add("tie-second", testNow.Add(-time.Hour)) // same time: later id first

	var got []string
	if err := s.List(ctx, func(st stories.Story) error {
		got = append(got, st.Title)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"newest", "tie-second", "tie-first", "middle", "oldest"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List order = %v, want %v", got, want)
	}

	// The callback's error stops the stream and is returned.
	stop := errors.New("stop")
	calls := 0
	err := s.List(ctx, func(stories.Story) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List error = %v, want %v", err, stop)
	}
	if got, want := calls, 1; got != want {
		t.Errorf("callback calls after error = %d, want %d", got, want)
	}
}

func TestGetUnknownID(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	st := &stories.Story{Section: "news", Title: "Known", URL: "https://example.com/known"}
	if err := s.Add(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, st.ID)
	if err != nil {
		t.Fatalf("Get known id: %v", err)
	}
	if got.Title != "Known" {
		t.Errorf("Get title = %q, want %q", got.Title, "Known")
	}

	_, err = s.Get(ctx, st.ID+1000)
	if !errors.Is(err, stories.ErrNotFound) {
		t.Fatalf("Get unknown id error = %v, want wrapping %v", err, stories.ErrNotFound)
	}
}

func TestSetSection(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	for _, name := range []string{"news", "sport"} {
		if err := s.Add(ctx, &stories.Story{Section: name, Title: "x", URL: "https://example.com/" + name}); err != nil {
			t.Fatal(err)
		}
	}
	intp := func(n int) *int { return &n }
	strp := func(s string) *string { return &s }

	t.Run("changes order max and title", func(t *testing.T) {
		sec, err := s.SetSection(ctx, "sport", stories.SectionChange{Order: intp(0), MaxStories: intp(5), Title: strp("Sport\r\nand games")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := [3]any{sec.Order, sec.MaxStories, sec.Title}, [3]any{0, 5, "Sport and games"}; got != want {
			t.Errorf("SetSection returned order/max/title %v, want %v", got, want)
		}
		secs := wantSections(t, s, "sport", "news")
		if got, want := secs[0].DisplayName(), "Sport and games"; got != want {
			t.Errorf("DisplayName = %q, want %q", got, want)
		}
		if got, want := secs[0].MaxStories, 5; got != want {
			t.Errorf("max = %d, want %d", got, want)
		}
		// news was not touched.
		if got, want := secs[1].MaxStories, stories.DefaultMaxStories; got != want {
			t.Errorf("news max = %d, want %d", got, want)
		}
	})

	t.Run("nil fields are kept", func(t *testing.T) {
		sec, err := s.SetSection(ctx, "sport", stories.SectionChange{MaxStories: intp(0)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := [3]any{sec.Order, sec.MaxStories, sec.Title}, [3]any{0, 0, "Sport and games"}; got != want {
			t.Errorf("order/max/title = %v, want %v", got, want)
		}
	})

	t.Run("rejects negative max", func(t *testing.T) {
		_, err := s.SetSection(ctx, "sport", stories.SectionChange{MaxStories: intp(-1)})
		if err == nil {
			t.Fatal("SetSection max -1 succeeded, want error")
		}
		secs, err := s.Sections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := secs[0].MaxStories, 0; got != want {
			t.Errorf("max after rejected change = %d, want %d", got, want)
		}
		if _, err := s.SetSection(ctx, "brand-new", stories.SectionChange{MaxStories: intp(-3)}); err == nil {
			t.Fatal("SetSection new section max -3 succeeded, want error")
		}
		if got, want := countRows(t, db, "sections"), 2; got != want {
			t.Errorf("sections rows = %d, want %d (rejected change created a section)", got, want)
		}
	})

	t.Run("creates a missing section", func(t *testing.T) {
		sec, err := s.SetSection(ctx, "opinion", stories.SectionChange{Title: strp("Opinion")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := [2]any{sec.Name, sec.MaxStories}, [2]any{"opinion", stories.DefaultMaxStories}; got != want {
			t.Errorf("name/max = %v, want %v", got, want)
		}
	})
}
