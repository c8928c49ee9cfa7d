package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/newsroom/digest/store"
)

// This file is what other packages read of the tables digest owns
// (editions, edition_stories): bounces, clicks and the web call these
// instead of writing their own SQL against them. Each takes a
// store.Querier, so that a caller inside a transaction reads through it.

// EditionList returns the id of the list the edition belongs to.
func EditionList(ctx context.Context, q store.Querier, editionID int64) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT list_id FROM editions WHERE id = ?`, editionID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w with id %d", ErrNoEdition, editionID)
	}
	if err != nil {
		return 0, fmt.Errorf("read edition %d: %w", editionID, err)
	}
	return id, nil
}

// RecentEditionIDs returns the ids of the list's last n editions by date,
// newest first.
func RecentEditionIDs(ctx context.Context, q store.Querier, listID int64, n int) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM editions WHERE list_id = ? ORDER BY date DESC LIMIT ?`, listID, n)
	if err != nil {
		return nil, fmt.Errorf("read editions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read editions: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ErrStoryNotInEdition reports an edition and story pair that no edition
// has.
var ErrStoryNotInEdition = errors.New("story not in edition")

// The two readers below join edition_stories (the driving table, owned
// here) with stories for the URL: one statement per click or per run,
// where asking the stories package per story would be a query each.

// StoryURL is the URL of the story in the edition; ErrStoryNotInEdition
// when the edition does not have it.
func StoryURL(ctx context.Context, q store.Querier, editionID, storyID int64) (string, error) {
	var u string
	err := q.QueryRowContext(ctx, `SELECT s.url FROM edition_stories es JOIN stories s ON s.id = es.story_id
		WHERE es.edition_id = ? AND es.story_id = ?`, editionID, storyID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrStoryNotInEdition
	}
	return u, err
}

// EditionURLs maps the URL of each story of the edition to its id.
func EditionURLs(ctx context.Context, q store.Querier, editionID int64) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.id, s.url FROM edition_stories es JOIN stories s ON s.id = es.story_id WHERE es.edition_id = ?`, editionID)
	if err != nil {
		return nil, fmt.Errorf("read edition stories: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var u string
		if err := rows.Scan(&id, &u); err != nil {
			return nil, fmt.Errorf("read edition stories: %w", err)
		}
		out[u] = id
	}
	return out, rows.Err()
}

// Ranking by clicks: a story's click rate (clicks per message sent, over
// every edition it was in) adds ClickRateWeight points per unit, at most
// ClickRateCap points, to its score when the list ranks by clicks. The
// cap keeps a viral story from burying the editors' scores; pinning
// still wins, since selection orders by pinned first.
const (
	ClickRateWeight = 100.0 // 1 % of recipients clicking adds 1 point
	ClickRateCap    = 10.0
)

// clickRateSQL is the ranking term for a story aliased s, as SQL with one
// parameter: 1 when the list ranks by clicks, 0 otherwise. (The literals
// are ClickRateCap and ClickRateWeight.) The messages counted are those
// of every edition the story was in, clicked or not: an edition nobody
// clicked lowers the rate.
//
// It reads story_clicks (clicks' table) and deliveries (the ledger's)
// inside selection's one ordered query on purpose: the rate is part of
// the ORDER BY that picks each section's top stories, so it has to be a
// term of that statement; computed in Go it would mean reading every
// eligible story to rank them.
const clickRateSQL = `(CASE WHEN ? THEN MIN(10.0, 100.0 * COALESCE((SELECT CAST(SUM(k.clicks) AS REAL) / MAX(1,
	(SELECT COUNT(*) FROM deliveries d WHERE d.status = 'sent' AND d.edition_id IN (SELECT es2.edition_id FROM edition_stories es2 WHERE es2.story_id = s.id)))
	FROM story_clicks k WHERE k.story_id = s.id), 0)) ELSE 0 END)`
