package digest_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/newsroom/digest/subscribers"
)

// sentWithClicks stores an edition of the list "other" on date holding
// the story, sent to n readers, with clicks on the story: what a story
// a reader may still get in the daily list brings from elsewhere.
func (e *env) sentWithClicks(t *testing.T, date string, story int64, n, clicks int) {
	t.Helper()
	var list int64
	if err := e.db.QueryRowContext(e.ctx, `SELECT id FROM lists WHERE name = 'other'`).Scan(&list); err != nil {
		subs := &subscribers.Store{DB: e.db, Now: e.clock.Now}
		l, err := subs.CreateList(e.ctx, subscribers.List{Name: "other", Title: "Other", From: "o@news.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		list = l.ID
	}
	var ed int64
	if err := e.db.QueryRowContext(e.ctx, `INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		VALUES (?, ?, 0, 0, 's', '', '', 0) RETURNING id`, list, date).Scan(&ed); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `INSERT INTO edition_stories (edition_id, story_id, position, kind) VALUES (?, ?, 0, 'lead')`, ed, story)
	e.exec(t, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO subscribers (email, token, created_at, updated_at) SELECT 'r' || ? || '-' || i || '@example.com', 't' || ? || '-' || i, 0, 0 FROM n`, n, ed, ed)
	e.exec(t, `INSERT INTO deliveries (edition_id, subscriber_id, status, updated_at)
		SELECT ?, id, 'sent', 0 FROM subscribers WHERE email LIKE 'r' || ? || '-%'`, ed, ed)
	if clicks > 0 {
		e.exec(t, `INSERT INTO story_clicks (edition_id, story_id, clicks) VALUES (?, ?, ?)`, ed, story, clicks)
	}
}

// rank_by_clicks adds min(10, 100 x clicks per message sent) to the score
// of a story still eligible: a clicked story rises, by at most the cap;
// the rate is over every edition the story was in; pinning still wins;
// a list that does not rank by clicks keeps the editors' order.
func TestSelectRanksByClicks(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, e *env)
		off, rank []string
	}{
		{
			name: "a clicked story rises by at most the cap, pinned first",
			setup: func(t *testing.T, e *env) {
				p := e.add(t, "World", "Pinned", 4*time.Hour, 0)
				e.exec(t, `UPDATE stories SET pinned = 1 WHERE id = ?`, p)
				e.add(t, "World", "Fourteen", 3*time.Hour, 14)
				e.add(t, "World", "Five", 2*time.Hour, 5)
				// 1 click in 4 messages: 25 points uncapped, 10 capped:
				// above Five (5), below Fourteen (14).
				e.sentWithClicks(t, "2026-11-27", e.add(t, "World", "Clicked", time.Hour, 3), 4, 1)
			},
			off:  []string{"World: Pinned", "World: Fourteen", "World: Five", "World: Clicked"},
			rank: []string{"World: Pinned", "World: Fourteen", "World: Clicked", "World: Five"},
		},
		{
			name: "the rate counts every edition the story was in",
			setup: func(t *testing.T, e *env) {
				e.add(t, "World", "Five", 2*time.Hour, 5)
				id := e.add(t, "World", "Clicked once", time.Hour, 3)
				// 1 click in 4 + 96 messages: 1 point, not 10.
				e.sentWithClicks(t, "2026-11-26", id, 4, 1)
				e.sentWithClicks(t, "2026-11-27", id, 96, 0)
			},
			off:  []string{"World: Five", "World: Clicked once"},
			rank: []string{"World: Five", "World: Clicked once"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, morning)
			tt.setup(t, e)
			e.exec(t, `UPDATE sections SET max_stories = 4`)
			for _, rank := range []bool{false, true} {
				e.list.RankByClicks = rank
				sel, err := e.eds.Select(e.ctx, e.list, "2026-11-28")
				if err != nil {
					t.Fatal(err)
				}
				got, _ := titles(sel)
				want := tt.off
				if rank {
					want = tt.rank
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("rank_by_clicks %v:\n got %q\nwant %q", rank, got, want)
				}
			}
		})
	}
}
