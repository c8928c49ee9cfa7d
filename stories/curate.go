package stories

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/newsroom/digest/internal/suggest"
)

// Bits of stories.edited: the fields an editor changed, which an import
// of the same URL leaves alone (migration 0003).
const (
	editedTitle   = 1
	editedTeaser  = 2
	editedSection = 4
	editedScore   = 8
)

// SetPinned pins a story (it comes first in its section whatever its
// score) or unpins it, and returns the story as stored.
func (s *Store) SetPinned(ctx context.Context, id int64, pinned bool) (Story, error) {
	return s.setFlag(ctx, id, "pinned", pinned)
}

// SetHidden hides a story (it is never selected for an edition) or shows
// it again, and returns the story as stored.
func (s *Store) SetHidden(ctx context.Context, id int64, hidden bool) (Story, error) {
	return s.setFlag(ctx, id, "hidden", hidden)
}

// setFlag updates one of the two boolean columns; column is one of two
// constants, never user input.
func (s *Store) setFlag(ctx context.Context, id int64, column string, on bool) (Story, error) {
	var q string
	switch column {
	case "pinned":
		q = `UPDATE stories SET pinned = ?, updated_at = ? WHERE id = ?`
	case "hidden":
		q = `UPDATE stories SET hidden = ?, updated_at = ? WHERE id = ?`
	default:
		return Story{}, fmt.Errorf("unknown story flag %q", column)
	}
	res, err := s.DB.ExecContext(ctx, q, on, s.now().Unix(), id)
	if err != nil {
		return Story{}, fmt.Errorf("update story %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Story{}, notFound(id)
	}
	return s.Get(ctx, id)
}

func notFound(id int64) error {
	return fmt.Errorf("story %d: %w (see digest stories list)", id, ErrNotFound)
}

// Edit holds an editor's changes to a story; nil fields stay as they are.
type Edit struct {
	Title   *string
	Teaser  *string
	Section *string
	URL     *string
	Score   *float64
}

// Empty reports whether the edit changes nothing.
func (e Edit) Empty() bool {
	return e.Title == nil && e.Teaser == nil && e.Section == nil && e.URL == nil && e.Score == nil
}

// ErrURLTaken reports an edit that would give a story the URL of another.
var ErrURLTaken = errors.New("url already used")

// Edit applies an editor's changes to a story, checked as a new story
// would be (a title, an http(s) URL, a section that is created when new),
// and returns the story as stored. Edited title, teaser, section and
// score survive later imports of the same URL; a changed URL makes the
// story a different article for imports, since the URL identifies it.
func (s *Store) Edit(ctx context.Context, id int64, e Edit) (Story, error) {
	if e.Empty() {
		return Story{}, errors.New("nothing to change: give at least one of --title, --teaser, --section, --score, --url")
	}
	var out Story
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		st, err := scanStory(tx.QueryRowContext(ctx, `SELECT `+storyColumns+`
			FROM stories s JOIN sections c ON c.id = s.section_id WHERE s.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		var bits int
		if e.Title != nil {
			st.Title, bits = *e.Title, bits|editedTitle
		}
		if e.Teaser != nil {
			st.Teaser, bits = *e.Teaser, bits|editedTeaser
		}
		if e.Section != nil {
			st.Section, bits = *e.Section, bits|editedSection
		}
		if e.Score != nil {
			st.Score, bits = *e.Score, bits|editedScore
		}
		if e.URL != nil {
			st.URL = *e.URL
		}
		if err := Normalize(&st); err != nil {
			return err
		}
		var other int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM stories WHERE url = ? AND id <> ?`, st.URL, id).Scan(&other)
		if err == nil {
			return fmt.Errorf("story %d already has the url %s (%w): edit or hide that one instead", other, st.URL, ErrURLTaken)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		sec, err := EnsureSection(ctx, tx, st.Section, s.now())
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE stories SET section_id = ?, title = ?, url = ?, teaser = ?, score = ?,
			edited = edited | ?, updated_at = ? WHERE id = ?`,
			sec.ID, st.Title, st.URL, st.Teaser, st.Score, bits, s.now().Unix(), id)
		if err != nil {
			return fmt.Errorf("update story %d: %w", id, err)
		}
		st.Section = sec.Name
		out = st
		return nil
	})
	return out, err
}

// ErrUnknownSection reports a section name that does not exist.
var ErrUnknownSection = errors.New("unknown section")

// Section returns the section called name (case does not matter).
func (s *Store) Section(ctx context.Context, name string) (Section, error) {
	var sec Section
	err := s.DB.QueryRowContext(ctx, `SELECT id, name, title, display_order, max_stories FROM sections WHERE name = ?`,
		strings.TrimSpace(name)).Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories)
	if errors.Is(err, sql.ErrNoRows) {
		return sec, fmt.Errorf("%w %q%s: pick one from digest sections list", ErrUnknownSection, name, s.nearestSection(ctx, name))
	}
	return sec, err
}

// nearestSection is " (did you mean "x"?)" for the section name closest
// to a mistyped one, or "" when none is close.
func (s *Store) nearestSection(ctx context.Context, name string) string {
	secs, err := s.Sections(ctx)
	if err != nil {
		return ""
	}
	names := make([]string, len(secs))
	for i, sec := range secs {
		names[i] = sec.Name
	}
	if near := suggest.Nearest(strings.TrimSpace(name), names); near != "" {
		return fmt.Sprintf(" (did you mean %q?)", near)
	}
	return ""
}

// SectionCounts returns how many stories each section holds, by section
// id, for listings.
func (s *Store) SectionCounts(ctx context.Context) (map[int64]int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT section_id, COUNT(*) FROM stories GROUP BY section_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
