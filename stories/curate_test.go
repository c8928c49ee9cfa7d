package stories_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/newsroom/digest/stories"
)

func add(t *testing.T, s *stories.Store, st stories.Story) stories.Story {
	t.Helper()
	if err := s.Add(context.Background(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func ptr[T any](v T) *T { return &v }

func TestPinAndHide(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	st := add(t, s, stories.Story{Section: "World", Title: "T", URL: "https://x.example/t"})
	got, err := s.SetPinned(ctx, st.ID, true)
	if err != nil || !got.Pinned || got.Hidden {
		t.Fatalf("pin: %+v %v", got, err)
	}
	got, err = s.SetHidden(ctx, st.ID, true)
	if err != nil || !got.Pinned || !got.Hidden {
		t.Fatalf("hide: %+v %v", got, err)
	}
	// A re-import keeps both.
	got = add(t, s, stories.Story{Section: "World", Title: "T2", URL: "https://x.example/t"})
	if !got.Pinned || !got.Hidden || got.Title != "T2" {
		t.Fatalf("re-import: %+v", got)
	}
	if got, _ = s.SetPinned(ctx, st.ID, false); got.Pinned {
		t.Error("unpin")
	}
	if got, _ = s.SetHidden(ctx, st.ID, false); got.Hidden {
		t.Error("unhide")
	}
	for _, err := range []error{
		func() error { _, err := s.SetPinned(ctx, 999, true); return err }(),
		func() error { _, err := s.SetHidden(ctx, 999, true); return err }(),
		func() error { _, err := s.Edit(ctx, 999, stories.Edit{Title: ptr("x")}); return err }(),
	} {
		if !errors.Is(err, stories.ErrNotFound) || !strings.Contains(err.Error(), "story 999") {
			t.Errorf("unknown id: %v", err)
		}
	}
}

func TestEditSurvivesReimport(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	st := add(t, s, stories.Story{Section: "World", Title: "Typo headlien", Teaser: "Feed teaser", URL: "https://x.example/a", Score: 1})
	got, err := s.Edit(ctx, st.ID, stories.Edit{Title: ptr("  Fixed\r\nheadline "), Section: ptr("Europe"), Score: ptr(7.5)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Fixed headline" || got.Section != "Europe" || got.Score != 7.5 || got.Teaser != "Feed teaser" {
		t.Fatalf("edit: %+v", got)
	}
	// The feed publishes the article again: edited fields stay, the
	// rest follows the feed.
	again := add(t, s, stories.Story{Section: "World", Title: "Typo headlien", Teaser: "New feed teaser", URL: "https://x.example/a", Score: 2})
	if again.Title != "Fixed headline" || again.Section != "Europe" || again.Score != 7.5 || again.Teaser != "New feed teaser" {
		t.Fatalf("re-import undid the edit: %+v", again)
	}
	stored, _ := s.Get(ctx, st.ID)
	if stored != again {
		t.Errorf("Add reported %+v, store has %+v", again, stored)
	}
	// Clearing the teaser is an edit too.
	got, err = s.Edit(ctx, st.ID, stories.Edit{Teaser: ptr("")})
	if err != nil || got.Teaser != "" {
		t.Fatalf("clear teaser: %+v %v", got, err)
	}
	if sec, err := s.Section(ctx, "europe"); err != nil || sec.Name != "Europe" {
		t.Errorf("the edit did not create section Europe: %+v %v", sec, err)
	}
}

func TestEditRejectsBadValues(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a := add(t, s, stories.Story{Section: "World", Title: "A", URL: "https://x.example/a"})
	b := add(t, s, stories.Story{Section: "World", Title: "B", URL: "https://x.example/b"})
	tests := []struct {
		edit stories.Edit
		want string
	}{
		{stories.Edit{}, "nothing to change"},
		{stories.Edit{Title: ptr(" ")}, "no title"},
		{stories.Edit{URL: ptr("ftp://x.example/")}, "http(s)"},
		{stories.Edit{Section: ptr("")}, "no section"},
		{stories.Edit{URL: ptr(b.URL)}, "already has the url"},
	}
	for _, tt := range tests {
		if _, err := s.Edit(ctx, a.ID, tt.edit); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %q", tt.edit, err, tt.want)
		}
	}
	if got, _ := s.Get(ctx, a.ID); got.Title != "A" || got.URL != a.URL || got.Section != "World" {
		t.Errorf("a rejected edit changed the story: %+v", got)
	}
	got, err := s.Edit(ctx, a.ID, stories.Edit{URL: ptr("https://x.example/a2")})
	if err != nil || got.URL != "https://x.example/a2" {
		t.Errorf("url edit: %+v %v", got, err)
	}
}

func TestSectionLookupAndCounts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	add(t, s, stories.Story{Section: "World", Title: "A", URL: "https://x.example/a"})
	add(t, s, stories.Story{Section: "World", Title: "B", URL: "https://x.example/b"})
	if _, err := s.Section(ctx, "Wrold"); !errors.Is(err, stories.ErrUnknownSection) {
		t.Errorf("unknown section: %v", err)
	}
	sec, err := s.Section(ctx, "world")
	if err != nil {
		t.Fatal(err)
	}
	counts, err := s.SectionCounts(ctx)
	if err != nil || counts[sec.ID] != 2 {
		t.Errorf("counts %v %v", counts, err)
	}
}
