package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// BenchmarkReadPage reads every page of a 10,000-member list whose
// edition has a ledger row for every other member (a resumed run): the
// cost of the producer's reads, members from subscribers and ledger rows
// from the deliveries table.
//
//	go test ./delivery -run '^$' -bench ReadPage
func BenchmarkReadPage(b *testing.B) {
	f, editionID := readPageFixture(b)
	b.ResetTimer()
	for range b.N {
		if n := len(readAll(b, f, editionID)); n != 10000 {
			b.Fatalf("read %d members, want 10000", n)
		}
	}
}

// TestReadPageMergesLedgerStatuses checks the merge of the two reads: each
// member carries its own ledger status, and members without a row none.
func TestReadPageMergesLedgerStatuses(t *testing.T) {
	f, editionID := readPageFixture(t)
	all := readAll(t, f, editionID)
	for _, p := range all {
		want := ""
		if p.sub.ID%2 == 0 {
			want = StatusSent
		}
		if p.status != want {
			t.Fatalf("subscriber %d: status %q, want %q", p.sub.ID, p.status, want)
		}
	}
	if len(all) != 10000 {
		t.Fatalf("read %d members, want 10000", len(all))
	}
}

// readAll pages through the list as the producer does.
func readAll(tb testing.TB, f *pageFixture, editionID int64) []pending {
	var out []pending
	var after int64
	for {
		page, err := readPage(f.ctx, f.db, editionID, f.list.ID, after, pageSize)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < pageSize {
			return out
		}
		after = page[len(page)-1].sub.ID
	}
}

// readPageFixture is a 10,000-member daily list with an edition sent to
// every member with an even id.
func readPageFixture(tb testing.TB) (*pageFixture, int64) {
	db := storetest.Open(tb)
	ctx := context.Background()
	f := &pageFixture{ctx: ctx, db: db}
	var editionID int64
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, subscribers.DefaultList).Scan(&f.list.ID); err != nil {
			return err
		}
		now := time.Now().Unix()
		for i := 1; i <= 10000; i++ {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, name, token, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?) RETURNING id`, fmt.Sprintf("sub%05d@example.org", i), "", subscribers.NewToken(), now, now).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
				VALUES (?, ?, 'active', ?, ?)`, f.list.ID, id, now, now); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO editions (list_id, date, window_start, window_end, subject, preheader, html, text, created_at)
			VALUES (?, '2026-11-28', 0, 0, 's', '', '', '', ?) RETURNING id`, f.list.ID, now).Scan(&editionID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, updated_at)
			SELECT ?, subscriber_id, 'sent', 1, ? FROM memberships WHERE list_id = ? AND subscriber_id % 2 = 0`, editionID, now, f.list.ID)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f, editionID
}

type pageFixture struct {
	ctx  context.Context
	db   *store.DB
	list subscribers.List
}
