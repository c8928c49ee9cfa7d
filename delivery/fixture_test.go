package delivery_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/sample"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// fixture is a real database with a list of n subscribers and stories
// for its editions.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	db     *store.DB
	subs   *subscribers.Store
	list   subscribers.List
	emails []string
}

// newFixture makes n subscribers sub0001@example.org ... on the daily
// list, inserted in one transaction (Store.Add would take one each).
func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	var err error
	f := &fixture{t: t, ctx: ctx, db: db, subs: &subscribers.Store{DB: db}}
	if f.list, err = f.subs.GetList(ctx, subscribers.DefaultList); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		for i := 1; i <= n; i++ {
			email := fmt.Sprintf("sub%05d@example.org", i)
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, name, token, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?) RETURNING id`, email, fmt.Sprintf("Reader %d", i), subscribers.NewToken(), now, now).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
				VALUES (?, ?, 'active', ?, ?)`, f.list.ID, id, now, now); err != nil {
				return err
			}
			f.emails = append(f.emails, email)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addStories stores n stories, teasers of teaserLen characters, each
// with an image and a byline, published in the hour before now.
func (f *fixture) addStories(n, teaserLen int) {
	f.t.Helper()
	st := &stories.Store{DB: f.db}
	sections := []string{"Americas", "Rest of Asia", "Economy", "Transport", "Technology", "Sport", "Culture", "Science"}
	var all []stories.Story
	for i := range n {
		all = append(all, stories.Story{
			Section: sections[i%len(sections)], Title: fmt.Sprintf("Story number %d about something that matters", i+1),
			URL:    fmt.Sprintf("https://news.example.com/story/%d", i+1),
			Image:  fmt.Sprintf("https://cdn.news.example.com/images/2026/11/story-%d-1200x675.jpg", i+1),
			Byline: fmt.Sprintf("Reporter Number %d", i%9+1),
			Teaser: strings.Repeat("Word ", teaserLen/5), PublishedAt: time.Now().Add(-time.Duration(i+1) * time.Minute), Score: float64(n - i),
		})
	}
	if err := st.AddAll(f.ctx, all); err != nil {
		f.t.Fatal(err)
	}
}

// maxPerSection lets every section of the stored stories show n lead
// stories.
func (f *fixture) maxPerSection(n int) {
	f.t.Helper()
	st := &stories.Store{DB: f.db}
	secs, err := st.Sections(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, sec := range secs {
		if _, err := st.SetSection(f.ctx, sec.Name, stories.SectionChange{MaxStories: &n}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// addFrontPage stores the seed front page's stories (what digest demo
// loads), published in the hours before now.
func (f *fixture) addFrontPage() {
	f.t.Helper()
	all := sample.FrontPage(time.Now())
	for i := range all {
		if err := stories.Normalize(&all[i]); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := (&stories.Store{DB: f.db}).AddAll(f.ctx, all); err != nil {
		f.t.Fatal(err)
	}
}

// edition builds (or loads) the list's edition for date.
func (f *fixture) edition(date string) digest.Edition {
	f.t.Helper()
	eds := &digest.Editions{DB: f.db}
	ed, _, err := eds.Build(f.ctx, digest.Composer{BaseURL: "https://news.example.com"}, f.list, date, true)
	if err != nil {
		f.t.Fatal(err)
	}
	return ed
}

// sender sends to srv with short retry waits, so fault tests run fast.
func (f *fixture) sender(t testing.TB, url string) *delivery.Sender {
	t.Helper()
	cfg, err := delivery.ParseSMTPURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := delivery.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &delivery.Sender{
		DB: f.db, Transport: tr, BaseURL: "https://news.example.com",
		Concurrency: 4, RetryBase: 5 * time.Millisecond, RetryMax: 40 * time.Millisecond, MaxAttempts: 6,
		BounceLimit: subscribers.DefaultBounceLimit,
		Logf:        func(format string, args ...any) { t.Logf(format, args...) },
	}
}

// ledger returns the edition's rows by email.
func (f *fixture) ledger(editionID int64) map[string]row {
	f.t.Helper()
	rows, err := f.db.QueryContext(f.ctx, `SELECT s.email, d.status, d.attempts, d.last_code, d.last_reply, d.message_id, COALESCE(d.next_attempt_at, 0)
		FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.edition_id = ?`, editionID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]row{}
	for rows.Next() {
		var email string
		var r row
		if err := rows.Scan(&email, &r.status, &r.attempts, &r.code, &r.reply, &r.msgID, &r.next); err != nil {
			f.t.Fatal(err)
		}
		out[email] = r
	}
	return out
}

type row struct {
	status       string
	attempts     int
	code         int
	reply, msgID string
	next         int64
}

// membership returns the subscriber's status on the fixture's list.
func (f *fixture) membership(email string) string {
	f.t.Helper()
	var status string
	if err := f.db.QueryRowContext(f.ctx, `SELECT m.status FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE s.email = ? AND m.list_id = ?`, email, f.list.ID).Scan(&status); err != nil {
		f.t.Fatal(err)
	}
	return status
}

// checkExactlyOnce asserts, counting on the server side, that every
// subscriber not in rejected got exactly one message and every rejected
// one none, and that the ledger agrees: sent with the Message-ID the
// server got, or failed with the server's code.
func checkExactlyOnce(t *testing.T, f *fixture, srv *smtptest.Server, editionID int64, rejected map[string]bool, code int) {
	t.Helper()
	counts := srv.PerRecipient()
	ledger := f.ledger(editionID)
	ids := map[string]string{}
	for _, m := range srv.Messages() {
		ids[strings.ToLower(m.To[0])] = headerValue(m.Data, "Message-Id")
	}
	bad := 0
	for _, e := range f.emails {
		r := ledger[e]
		switch {
		case rejected[e]:
			if counts[e] != 0 || r.status != delivery.StatusFailed || r.code != code {
				t.Errorf("%s: server got %d, ledger %s %d; want 0 and failed %d", e, counts[e], r.status, r.code, code)
				bad++
			}
		default:
			if counts[e] != 1 || r.status != delivery.StatusSent {
				t.Errorf("%s: server got %d, ledger %q (%s); want exactly 1 and sent", e, counts[e], r.status, r.reply)
				bad++
			} else if strings.Trim(r.msgID, "<>") != ids[e] {
				t.Errorf("%s: ledger Message-ID %q, server got %q", e, r.msgID, ids[e])
				bad++
			}
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
}

// headerValue reads one header of a raw message, without angle brackets.
func headerValue(data []byte, name string) string {
	for _, line := range strings.Split(string(data), "\r\n") {
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.Trim(strings.TrimSpace(v), "<>")
		}
	}
	return ""
}
