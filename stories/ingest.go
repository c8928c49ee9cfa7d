package stories

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// This file holds the story SQL that sources other than the CLI need:
// feeds (package feeds) address stories by id, since their own identity
// table decides which story an item is, and the push API reads a batch
// with an error per item.

// FindURL returns the id of the story whose URL is url, if any.
func FindURL(ctx context.Context, q store.Querier, url string) (int64, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM stories WHERE url = ?`, url).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// Insert stores st as a new story with its image inside tx and sets
// st.ID; st must be normalised and its URL new.
func Insert(ctx context.Context, tx *sql.Tx, st *Story, image string, now time.Time) error {
	sec, err := EnsureSection(ctx, tx, st.Section, now)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO stories (section_id, title, url, teaser, image, published_at, score, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sec.ID, st.Title, st.URL, st.Teaser, image, st.PublishedAt.Unix(), st.Score, now.Unix(), now.Unix()).Scan(&st.ID)
	if err != nil {
		return fmt.Errorf("store story %q: %w", st.URL, err)
	}
	return nil
}

// Update applies what a source now says about story id (section, title,
// teaser, image and, unless keepTime, the publication time) except the
// fields an editor changed (migration 0003), and reports whether anything
// changed. An empty teaser or image keeps the stored one (it may come
// from the article page). The URL, score, pinned and hidden stay.
func Update(ctx context.Context, tx *sql.Tx, id int64, st *Story, image string, keepTime bool, now time.Time) (bool, error) {
	var cur Story
	var curImage string
	var published int64
	var edited int
	err := tx.QueryRowContext(ctx, `SELECT c.name, s.title, s.teaser, s.image, s.published_at, s.edited
		FROM stories s JOIN sections c ON c.id = s.section_id WHERE s.id = ?`, id).
		Scan(&cur.Section, &cur.Title, &cur.Teaser, &curImage, &published, &edited)
	if err != nil {
		return false, fmt.Errorf("story %d: %w", id, err)
	}
	next := cur
	if edited&editedSection == 0 {
		next.Section = st.Section
	}
	if edited&editedTitle == 0 {
		next.Title = st.Title
	}
	if edited&editedTeaser == 0 && st.Teaser != "" {
		next.Teaser = st.Teaser
	}
	nextImage, nextPublished := image, published
	if image == "" {
		nextImage = curImage
	}
	if !keepTime {
		nextPublished = st.PublishedAt.Unix()
	}
	if next.Section == cur.Section && next.Title == cur.Title && next.Teaser == cur.Teaser &&
		nextImage == curImage && nextPublished == published {
		return false, nil
	}
	sec, err := EnsureSection(ctx, tx, next.Section, now)
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE stories SET section_id = ?, title = ?, teaser = ?, image = ?,
		published_at = ?, updated_at = ? WHERE id = ?`,
		sec.ID, next.Title, next.Teaser, nextImage, nextPublished, now.Unix(), id)
	if err != nil {
		return false, fmt.Errorf("update story %d: %w", id, err)
	}
	return true, nil
}

// Fill gives story id the teaser and image it lacks (a second source of
// the same article may carry what the first did not), leaving a teaser an
// editor set, even to empty. It reports whether anything changed.
func Fill(ctx context.Context, tx *sql.Tx, id int64, teaser, image string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE stories SET
		teaser = CASE WHEN teaser = '' AND edited & ? = 0 AND ? <> '' THEN ? ELSE teaser END,
		image = CASE WHEN image = '' AND ? <> '' THEN ? ELSE image END,
		updated_at = ?
		WHERE id = ? AND ((teaser = '' AND edited & ? = 0 AND ? <> '') OR (image = '' AND ? <> ''))`,
		editedTeaser, teaser, teaser, image, image, now.Unix(), id, editedTeaser, teaser, image)
	if err != nil {
		return false, fmt.Errorf("update story %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Image returns the image stored for story id (empty when none).
func (s *Store) Image(ctx context.Context, id int64) (string, error) {
	var img string
	err := s.DB.QueryRowContext(ctx, `SELECT image FROM stories WHERE id = ?`, id).Scan(&img)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(id)
	}
	return img, err
}

// HideURL hides the story whose URL is url (a CMS unpublished it) and
// returns it.
func (s *Store) HideURL(ctx context.Context, url string) (Story, error) {
	var id int64
	err := s.DB.QueryRowContext(ctx, `UPDATE stories SET hidden = 1, updated_at = ? WHERE url = ? RETURNING id`,
		s.now().Unix(), url).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Story{}, fmt.Errorf("no story has the url %s: %w", url, ErrNotFound)
	}
	if err != nil {
		return Story{}, err
	}
	return s.Get(ctx, id)
}

// ItemError is the problem with one story of a batch: its index in the
// array (0 for a single object) and what to fix.
type ItemError struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// ParseBatch reads a JSON body holding one story object or an array of
// them, in the import format. It checks every item and returns all the
// problems, so a client can fix a whole batch at once; err is set when
// the body is not such JSON at all.
func ParseBatch(data []byte, now time.Time) ([]Story, []ItemError, error) {
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) == 0:
		return nil, nil, errors.New("the body is empty: send a JSON story object or an array of them")
	case data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, nil, fmt.Errorf("the body is not a JSON array of stories: %v", err)
		}
		if len(raws) == 0 {
			return nil, nil, errors.New("the array is empty: send at least one story")
		}
	case data[0] == '{':
		raws = []json.RawMessage{data}
	default:
		return nil, nil, errors.New("the body is not JSON: send a story object or an array of them")
	}
	var out []Story
	var bad []ItemError
	for i, raw := range raws {
		rec, err := decodeRecord(raw)
		if err != nil {
			bad = append(bad, ItemError{i, err.Error()})
			continue
		}
		// The push API is a contract of its own (issue 13): a field it
		// does not know is refused, where a file import ignores it.
		ignored := map[string]int{}
		st, err := rec.story(now, ignored)
		if err == nil && len(ignored) > 0 {
			err = fmt.Errorf("unknown field %q: the push API takes %s", firstKey(ignored), knownFieldList())
		}
		if err != nil {
			bad = append(bad, ItemError{i, err.Error()})
			continue
		}
		out = append(out, st)
	}
	return out, bad, nil
}
