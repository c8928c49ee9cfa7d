package subscribers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/subscribers"
)

// openStore opens a fresh database file in a temporary folder.
func openStore(tb testing.TB) *subscribers.Store {
	tb.Helper()
	db := storetest.Open(tb)
	return &subscribers.Store{DB: db}
}

func TestNormalizeList(t *testing.T) {
	base := subscribers.List{Name: "weekly", From: "The Weekly <weekly@example.com>"}
	tests := []struct {
		name   string
		change func(*subscribers.List)
		check  func(subscribers.List) bool
		reason string // part of the error; empty when valid
	}{
		{"defaults", func(*subscribers.List) {}, func(l subscribers.List) bool {
			return l.Schedule == "0 6 * * *" && l.TimeZone == "UTC" && l.Language == "en" && l.Direction == "ltr"
		}, ""},
		{"sender address normalised", func(l *subscribers.List) { l.From = "  The Weekly <Weekly@EXAMPLE.com> " },
			func(l subscribers.List) bool { return l.From == "The Weekly <Weekly@example.com>" }, ""},
		{"bare sender", func(l *subscribers.List) { l.From = "news@example.com" },
			func(l subscribers.List) bool { return l.From == "news@example.com" }, ""},
		{"sender name with a comma is quoted", func(l *subscribers.List) { l.From = `"Doe, Jane" <jane@example.com>` },
			func(l subscribers.List) bool { return l.From == `"Doe, Jane" <jane@example.com>` }, ""},
		{"unicode sender stays readable", func(l *subscribers.List) { l.From = "Zoë's Digest <zoe@bücher.example>" },
			func(l subscribers.List) bool { return l.From == "Zoë's Digest <zoe@bücher.example>" }, ""},
		{"header injection in sender", func(l *subscribers.List) { l.From = "Eve\r\nBcc: victim@example.net <eve@example.com>" }, nil, "line break"},
		{"LF in sender", func(l *subscribers.List) { l.From = "Eve <eve@example.com>\nBcc: x@y" }, nil, "line break"},
		{"sender missing", func(l *subscribers.List) { l.From = "" }, nil, "sender missing"},
		{"sender not an address", func(l *subscribers.List) { l.From = "The Weekly" }, nil, "not an address"},
		{"sender with two @", func(l *subscribers.List) { l.From = "W <a@b@example.com>" }, nil, "not an address"},
		{"upper-case name", func(l *subscribers.List) { l.Name = "Weekly" }, nil, "lower-case"},
		{"name with a space", func(l *subscribers.List) { l.Name = "my list" }, nil, "lower-case"},
		{"name too long", func(l *subscribers.List) { l.Name = strings.Repeat("a", 65) }, nil, "at most 64"},
		{"schedule", func(l *subscribers.List) { l.Schedule = " 30  7 * *   1-5 " },
			func(l subscribers.List) bool { return l.Schedule == "30 7 * * 1-5" }, ""},
		{"schedule descriptor", func(l *subscribers.List) { l.Schedule = "@daily" }, func(l subscribers.List) bool { return l.Schedule == "@daily" }, ""},
		{"schedule with six fields", func(l *subscribers.List) { l.Schedule = "0 0 6 * * *" }, nil, "five-field"},
		{"schedule out of range", func(l *subscribers.List) { l.Schedule = "0 25 * * *" }, nil, "five-field"},
		{"schedule with a time zone", func(l *subscribers.List) { l.Schedule = "CRON_TZ=Europe/Paris 0 6 * * *" }, nil, "--tz"},
		{"schedule interval", func(l *subscribers.List) { l.Schedule = "@every 5m" }, nil, "is an interval: digest sends one edition per local date"},
		{"time zone", func(l *subscribers.List) { l.TimeZone = "America/New_York" },
			func(l subscribers.List) bool { return l.TimeZone == "America/New_York" }, ""},
		{"unknown time zone", func(l *subscribers.List) { l.TimeZone = "Mars/Olympus" }, nil, "IANA"},
		{"machine time zone", func(l *subscribers.List) { l.TimeZone = "Local" }, nil, "depends on the machine"},
		{"arabic is right to left", func(l *subscribers.List) { l.Language = "ar" },
			func(l subscribers.List) bool { return l.Language == "ar" && l.Direction == "rtl" }, ""},
		{"persian is right to left", func(l *subscribers.List) { l.Language = "fa-IR" },
			func(l subscribers.List) bool { return l.Direction == "rtl" }, ""},
		{"language canonicalised", func(l *subscribers.List) { l.Language = "pt_br" },
			func(l subscribers.List) bool { return l.Language == "pt-BR" && l.Direction == "ltr" }, ""},
		{"explicit direction wins", func(l *subscribers.List) { l.Language, l.Direction = "ar", "LTR" },
			func(l subscribers.List) bool { return l.Direction == "ltr" }, ""},
		{"bad direction", func(l *subscribers.List) { l.Direction = "up" }, nil, "ltr or rtl"},
		{"bad language", func(l *subscribers.List) { l.Language = "not a language" }, nil, "BCP 47"},
		{"title on two lines", func(l *subscribers.List) { l.Title = "The\r\nWeekly" }, nil, "one line"},
		{"subject prefix with a header", func(l *subscribers.List) { l.SubjectPrefix = "[W]\nBcc: x@y" }, nil, "one line"},
		{"postal address on lines", func(l *subscribers.List) { l.PostalAddress = "1 Main St\r\n\r\nSpringfield\n" },
			func(l subscribers.List) bool { return l.PostalAddress == "1 Main St, Springfield" }, ""},
		{"sections", func(l *subscribers.List) { l.Sections = []string{" Economy ,americas,, economy", "Transport"} },
			func(l subscribers.List) bool { return strings.Join(l.Sections, "|") == "Economy|americas|Transport" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := base
			tt.change(&l)
			err := subscribers.NormalizeList(&l)
			if tt.reason != "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("got %v, want an error about %q", err, tt.reason)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Fatalf("error is not one line: %q", err)
				}
				return
			}
			if err != nil || !tt.check(l) {
				t.Fatalf("got %+v, %v", l, err)
			}
			// Normalising the stored form again changes nothing.
			again := l
			if err := subscribers.NormalizeList(&again); err != nil || !sameList(again, l) {
				t.Fatalf("not idempotent: %+v then %+v (%v)", l, again, err)
			}
		})
	}
}

func sameList(a, b subscribers.List) bool {
	return a.Name == b.Name && a.From == b.From && a.Title == b.Title && a.PostalAddress == b.PostalAddress &&
		a.SubjectPrefix == b.SubjectPrefix && strings.Join(a.Sections, ",") == strings.Join(b.Sections, ",") &&
		a.Schedule == b.Schedule && a.TimeZone == b.TimeZone && a.Language == b.Language && a.Direction == b.Direction
}

func TestListLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	l, err := s.CreateList(ctx, subscribers.List{Name: "weekly", From: "W <w@example.com>", Language: "he", Schedule: "0 7 * * 1", TimeZone: "Asia/Jerusalem", Sections: []string{"Economy"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetList(ctx, "weekly")
	if err != nil || !sameList(got, l) || got.Direction != "rtl" {
		t.Fatalf("stored %+v, read back %+v (%v)", l, got, err)
	}
	if _, err := s.CreateList(ctx, subscribers.List{Name: "weekly", From: "x@example.com"}); !errors.Is(err, subscribers.ErrListExists) {
		t.Fatalf("second create: %v", err)
	}
	next, ok := got.NextRun(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // a Saturday
	if !ok || next.Format("2006-01-02 15:04 MST") != "2026-11-30 07:00 IST" {
		t.Fatalf("next run %v %v", next, ok)
	}

	got.Title, got.Schedule = "The Weekly", "0 8 * * 1"
	if _, err := s.UpdateList(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetList(ctx, "weekly")
	if got.Title != "The Weekly" || got.Schedule != "0 8 * * 1" || got.TimeZone != "Asia/Jerusalem" {
		t.Fatalf("after update: %+v", got)
	}

	// A list with members is kept unless forced; its editions and their
	// deliveries go with it, the people stay.
	if _, err := s.Add(ctx, "ada@example.com", "Ada", "weekly", "daily"); err != nil {
		t.Fatal(err)
	}
	addDelivery(t, s, "weekly", "ada@example.com")
	if _, err := s.DeleteList(ctx, "weekly", false); !errors.Is(err, subscribers.ErrListNotEmpty) {
		t.Fatalf("delete without force: %v", err)
	}
	if _, err := s.GetList(ctx, "weekly"); err != nil {
		t.Fatal("refused delete removed the list")
	}
	d, err := s.DeleteList(ctx, "weekly", true)
	if err != nil || d.Memberships != 1 {
		t.Fatalf("forced delete: %+v, %v", d, err)
	}
	if _, err := s.GetList(ctx, "weekly"); !errors.Is(err, subscribers.ErrUnknownList) {
		t.Fatalf("list still there: %v", err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM deliveries`); n != 0 {
		t.Fatalf("%d deliveries of the deleted list remain", n)
	}
	if _, err := s.Get(ctx, "ada@example.com"); err != nil {
		t.Fatalf("the subscriber went with the list: %v", err)
	}
}

// addDelivery records an edition of list and a sent delivery of it to
// email, as delivery does.
func addDelivery(t *testing.T, s *subscribers.Store, list, email string) {
	t.Helper()
	ctx := context.Background()
	l, err := s.GetList(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Get(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	var edID int64
	err = s.DB.QueryRowContext(ctx, `INSERT INTO editions (list_id, date, window_start, window_end, subject, html, text, created_at)
		VALUES (?, '2026-11-28', 0, 1, 'Subject', '<p>x</p>', 'x', 1)
		ON CONFLICT (list_id, date) DO UPDATE SET subject = excluded.subject RETURNING id`, l.ID).Scan(&edID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, message_id, last_reply, updated_at)
		VALUES (?, ?, 'sent', 1, 'digest.1@example.com', ?, 2)`, edID, sub.ID, "250 ok queued for "+email); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, s *subscribers.Store, query string, args ...any) int {
	t.Helper()
	return storetest.Count(t, s.DB, query, args...)
}
