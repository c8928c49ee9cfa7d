// Package stories stores the newsroom's stories and the sections they
// belong to: adding, importing from JSON, listing and curating them.
package stories

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/store"
)

// DefaultMaxStories is how many stories a new section shows per edition.
const DefaultMaxStories = 3

// Story is one published article.
type Story struct {
	ID          int64     `json:"id"`
	Section     string    `json:"section"`
	Title       string    `json:"title"`
	URL         string    `json:"url"`
	Teaser      string    `json:"teaser"`
	PublishedAt time.Time `json:"published_at"`
	Score       float64   `json:"score"`
	Pinned      bool      `json:"pinned"`
	Hidden      bool      `json:"hidden"`
	// Image is the URL of the story's picture (http or https), or "".
	Image string `json:"image,omitempty"`
	// Byline names the story's authors, or is "".
	Byline string `json:"byline,omitempty"`
}

// Section groups stories in the digest.
type Section struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Title      string `json:"title"`
	Order      int    `json:"order"`
	MaxStories int    `json:"max_stories"`
}

// DisplayName is the title shown in the digest: the section's title, or,
// until an editor sets one, a title made from its name (see AutoTitle).
func (s Section) DisplayName() string {
	if s.Title != "" {
		return s.Title
	}
	return AutoTitle(s.Name)
}

// TitleAutomatic reports whether the displayed title was made from a
// slug name (see AutoTitle) because no editor set one.
func (s Section) TitleAutomatic() bool { return s.Title == "" && AutoTitle(s.Name) != s.Name }

// AutoTitle makes a readable title from a section name that an import or
// a feed created as a slug: "weather" is shown "Weather", "rest-of-asia"
// "Rest Of Asia". A name with capitals or spaces was written for people
// and is kept as it is.
func AutoTitle(name string) string {
	if strings.ContainsAny(name, " ") || strings.ToLower(name) != name {
		return name
	}
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' })
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToTitle(r)) + w[n:]
	}
	if len(words) == 0 {
		return name
	}
	return strings.Join(words, " ")
}

// Store reads and writes stories and sections.
type Store struct {
	DB *store.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Store) now() time.Time { return clock.Now(s.Now) }

// Normalize trims the story's fields, collapses line breaks in single-line
// fields and checks what a story needs: a section, a title and an http(s)
// URL. It returns a one-line error that says what to fix.
func Normalize(st *Story) error {
	st.Section = oneLine(st.Section)
	st.Title = oneLine(st.Title)
	st.URL = strings.TrimSpace(st.URL)
	st.Teaser = oneline.Text(st.Teaser)
	st.Byline = oneLine(st.Byline)
	st.Image = strings.TrimSpace(st.Image)
	if st.Section == "" {
		return errors.New("story has no section: give it a section name")
	}
	if st.Title == "" {
		return errors.New("story has no title: every story needs a headline")
	}
	if st.URL == "" {
		return errors.New("story has no url: every story needs a link")
	}
	if err := CheckURL(st.URL); err != nil {
		return err
	}
	if st.PublishedAt.IsZero() {
		return errors.New("story has no publication time")
	}
	if st.Image != "" {
		if err := checkImage(st.Image); err != nil {
			return err
		}
	}
	return nil
}

// checkImage accepts an absolute http(s) URL for a story's picture: a
// data: or javascript: URL never reaches a reader's mail client.
func checkImage(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, " \t\r\n\"'<>") {
		return fmt.Errorf("image %q is not an absolute http(s) URL: use https://host/picture.jpg or leave it out", clipURL(raw))
	}
	return nil
}

func clipURL(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// CheckURL accepts absolute http and https URLs only.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("story url %q is not an absolute http(s) URL: use https://host/path", raw)
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("story url %q contains white space", raw)
	}
	return nil
}

// oneLine folds a single-line field, so headlines can never break a mail
// header.
func oneLine(s string) string { return oneline.String(s) }

// Add stores a new story, or updates the story with the same URL (a feed
// re-publishing an article updates it; pinned, hidden and the fields an
// editor changed with Edit are kept). It creates the section if it does
// not exist yet.
func (s *Store) Add(ctx context.Context, st *Story) error {
	if st.PublishedAt.IsZero() {
		st.PublishedAt = s.now()
	}
	if err := Normalize(st); err != nil {
		return err
	}
	return s.DB.InTx(ctx, func(tx *sql.Tx) error { return s.upsert(ctx, tx, st) })
}

// AddAll stores stories in one transaction: all of them or none.
func (s *Store) AddAll(ctx context.Context, sts []Story) error {
	return s.DB.InTx(ctx, func(tx *sql.Tx) error {
		for i := range sts {
			if err := s.upsert(ctx, tx, &sts[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// onURLConflict updates a story stored under the same URL, keeping the
// fields an editor changed (the edited bits): shared by AddAll and the
// staged import.
const onURLConflict = `ON CONFLICT (url) DO UPDATE SET
			section_id = CASE WHEN stories.edited & 4 <> 0 THEN stories.section_id ELSE excluded.section_id END,
			title = CASE WHEN stories.edited & 1 <> 0 THEN stories.title ELSE excluded.title END,
			teaser = CASE WHEN stories.edited & 2 <> 0 THEN stories.teaser ELSE excluded.teaser END,
			score = CASE WHEN stories.edited & 8 <> 0 THEN stories.score ELSE excluded.score END,
			image = CASE WHEN excluded.image <> '' THEN excluded.image ELSE stories.image END,
			byline = CASE WHEN excluded.byline <> '' THEN excluded.byline ELSE stories.byline END,
			published_at = excluded.published_at, updated_at = excluded.updated_at`

func (s *Store) upsert(ctx context.Context, tx *sql.Tx, st *Story) error {
	sec, err := EnsureSection(ctx, tx, st.Section, s.now())
	if err != nil {
		return err
	}
	now := s.now().Unix()
	err = tx.QueryRowContext(ctx, `
		INSERT INTO stories (section_id, title, url, teaser, published_at, score, image, byline, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		`+onURLConflict+`
		RETURNING id, pinned, hidden, title, teaser, score, (SELECT name FROM sections WHERE id = stories.section_id)`,
		sec.ID, st.Title, st.URL, st.Teaser, st.PublishedAt.Unix(), st.Score, st.Image, st.Byline, now, now,
	).Scan(&st.ID, &st.Pinned, &st.Hidden, &st.Title, &st.Teaser, &st.Score, &st.Section)
	if err != nil {
		return fmt.Errorf("store story %q: %w", st.URL, err)
	}
	return nil
}

// EnsureSection returns the section called name, creating it (ordered
// after the existing ones, with the default maximum) when it is new.
func EnsureSection(ctx context.Context, q store.Querier, name string, now time.Time) (Section, error) {
	name = oneLine(name)
	if name == "" {
		return Section{}, errors.New("empty section name")
	}
	_, err := q.ExecContext(ctx, `
		INSERT INTO sections (name, display_order, max_stories, created_at)
		VALUES (?, (SELECT COALESCE(MAX(display_order), 0) + 1 FROM sections), ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, DefaultMaxStories, now.Unix())
	if err != nil {
		return Section{}, fmt.Errorf("create section %q: %w", name, err)
	}
	var sec Section
	err = q.QueryRowContext(ctx, `SELECT id, name, title, display_order, max_stories FROM sections WHERE name = ?`, name).
		Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories)
	return sec, err
}

const storyColumns = `s.id, c.name, s.title, s.url, s.teaser, s.published_at, s.score, s.pinned, s.hidden, s.image, s.byline`

func scanStory(sc interface{ Scan(...any) error }) (Story, error) {
	var st Story
	var published int64
	err := sc.Scan(&st.ID, &st.Section, &st.Title, &st.URL, &st.Teaser, &published, &st.Score, &st.Pinned, &st.Hidden, &st.Image, &st.Byline)
	st.PublishedAt = time.Unix(published, 0).UTC()
	return st, err
}

// List returns stories, newest first, calling fn for each so that large
// stores stream instead of loading into memory.
func (s *Store) List(ctx context.Context, fn func(Story) error) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+storyColumns+`
		FROM stories s JOIN sections c ON c.id = s.section_id
		ORDER BY s.published_at DESC, s.id DESC`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		st, err := scanStory(rows)
		if err != nil {
			return err
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ErrNotFound reports an unknown story id.
var ErrNotFound = errors.New("no such story")

// Get returns one story by id.
func (s *Store) Get(ctx context.Context, id int64) (Story, error) {
	st, err := scanStory(s.DB.QueryRowContext(ctx, `SELECT `+storyColumns+`
		FROM stories s JOIN sections c ON c.id = s.section_id WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("story %d: %w (see digest stories list)", id, ErrNotFound)
	}
	return st, err
}

// Sections returns all sections in display order.
func (s *Store) Sections(ctx context.Context) ([]Section, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, title, display_order, max_stories FROM sections ORDER BY display_order, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Section
	for rows.Next() {
		var sec Section
		if err := rows.Scan(&sec.ID, &sec.Name, &sec.Title, &sec.Order, &sec.MaxStories); err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// SectionChange holds the settings to change; nil fields stay as they are.
type SectionChange struct {
	Order      *int
	MaxStories *int
	Title      *string
}

// SetSection changes a section's settings, creating the section if needed.
func (s *Store) SetSection(ctx context.Context, name string, ch SectionChange) (Section, error) {
	if ch.MaxStories != nil && *ch.MaxStories < 0 {
		return Section{}, fmt.Errorf("max stories %d is negative: use 0 to show the section only under More headlines", *ch.MaxStories)
	}
	var sec Section
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if sec, err = EnsureSection(ctx, tx, name, s.now()); err != nil {
			return err
		}
		if ch.Order != nil {
			sec.Order = *ch.Order
		}
		if ch.MaxStories != nil {
			sec.MaxStories = *ch.MaxStories
		}
		if ch.Title != nil {
			sec.Title = oneLine(*ch.Title)
		}
		_, err = tx.ExecContext(ctx, `UPDATE sections SET display_order = ?, max_stories = ?, title = ? WHERE id = ?`,
			sec.Order, sec.MaxStories, sec.Title, sec.ID)
		return err
	})
	return sec, err
}
