package bounces

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// fixture is a database with one reader on the daily list who got one
// edition (delivery sent, Message-ID known).
type fixture struct {
	db  *store.DB
	p   *Processor
	ref DeliveryRef
}

const fixtureEmail = "reader@example.net"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	subs := &subscribers.Store{DB: db}
	sub, err := subs.Add(ctx, fixtureEmail, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	f := &fixture{db: db, p: &Processor{DB: db, Key: []byte("test key")}}
	f.ref.SubscriberID = sub.ID
	if err := db.QueryRow(`INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		VALUES (1, '2025-05-12', 0, 0, 's', '', '', ?) RETURNING id`, now).Scan(&f.ref.EditionID); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`INSERT INTO deliveries (edition_id, subscriber_id, status, message_id, updated_at)
		VALUES (?, ?, 'sent', 'digest.1.1.abc@example.com', ?) RETURNING id`, f.ref.EditionID, sub.ID, now).Scan(&f.ref.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) status(t *testing.T) string {
	t.Helper()
	var s string
	if err := f.db.QueryRow(`SELECT status FROM memberships WHERE subscriber_id = ?`, f.ref.SubscriberID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) events(t *testing.T) int {
	t.Helper()
	var n int
	f.db.QueryRow(`SELECT COUNT(*) FROM feedback_events`).Scan(&n)
	return n
}
