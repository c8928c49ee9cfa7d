package delivery_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/peakmem"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/report"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// BenchmarkMillionReaders sends the real front-page edition (19 KB) to
// 1,000,000 subscribers through an in-process discarding SMTP server over
// 4 connections, the ledger at its default durability, and prints
// messages per second, CPU per message, the peak resident set, the
// database's size per subscriber and the ledger's growth per recipient,
// and how long the read commands take on that database. It takes
// minutes, so it only runs when asked:
//
//	DIGEST_BENCH_MILLION=1 go test ./delivery -run '^$' -bench MillionReaders -benchtime 1x -timeout 60m
//
// DIGEST_BENCH_MILLION_SIZES lists the list sizes, smallest first
// (default 100000,1000000: memory must stay flat between them);
// DIGEST_BENCH_KEEP=DIR keeps each database there, for timing the CLI on
// it (README, Beyond one machine).
func BenchmarkMillionReaders(b *testing.B) {
	if os.Getenv("DIGEST_BENCH_MILLION") == "" {
		b.Skip("set DIGEST_BENCH_MILLION=1 to send to a million subscribers (minutes)")
	}
	sizes := []int{100000, 1000000}
	if v := os.Getenv("DIGEST_BENCH_MILLION_SIZES"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("DIGEST_BENCH_MILLION_SIZES: %q is not a size", f)
			}
			sizes = append(sizes, n)
		}
	}
	for range b.N {
		for _, n := range sizes {
			millionRun(b, n)
		}
	}
}

func millionRun(b *testing.B, n int) {
	ctx := context.Background()
	dir := b.TempDir()
	if keep := os.Getenv("DIGEST_BENCH_KEEP"); keep != "" {
		dir = keep
	}
	path := filepath.Join(dir, fmt.Sprintf("million-%d.db", n))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	f := &fixture{t: b, ctx: ctx, db: db, subs: &subscribers.Store{DB: db}}
	if f.list, err = f.subs.GetList(ctx, subscribers.DefaultList); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for _, q := range []string{
		fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
			INSERT INTO subscribers (email, name, token, created_at, updated_at)
			SELECT printf('reader%%07d@example%%d.com', x, x %% 97), 'Reader ' || x, lower(hex(randomblob(24))), 0, 0 FROM i`, n),
		fmt.Sprintf(`INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
			SELECT %d, id, 'active', 0, 0 FROM subscribers`, f.list.ID),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	f.addFrontPage()
	ed := f.edition(time.Now().UTC().Format(time.DateOnly))
	before := dbSize(b, db, path)
	fmt.Printf("%d subscribers stored in %s: %.0f bytes per subscriber (subscribers, memberships, indexes)\n", n, time.Since(t0).Round(time.Second), float64(before)/float64(n))

	sink := smtptest.Start(b, func(s *smtptest.Server) { s.Discard, s.TotalsOnly = true, true })
	cfg, err := delivery.ParseSMTPURL(sink.URL())
	if err != nil {
		b.Fatal(err)
	}
	tr, err := delivery.NewSMTP(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	s := &delivery.Sender{DB: db, Transport: tr, BaseURL: "https://news.example.com", Concurrency: 4}
	runtime.GC()
	peakmem.ResetPeakRSS()
	peak := peakmem.Watch()
	c0, start := peakmem.CPU(), time.Now()
	sum, err := s.Send(ctx, ed, f.list)
	wall, cpu := time.Since(start), peakmem.CPU()-c0
	goPeak, rss := peak(), peakmem.PeakRSS()
	if err != nil || sum.Sent != n || sink.Accepted() != n {
		b.Fatalf("send: %+v, %v; sink accepted %d", sum, err, sink.Accepted())
	}
	after := dbSize(b, db, path)
	fmt.Printf("%d recipients, %.1f KB per message: %s, %.0f msg/s, %.0f µs CPU per message (sink included); peak RSS %.1f MB, peak Go memory %.1f MB (target < 100 MB, flat); ledger %.0f bytes per recipient, database %.0f bytes per subscriber after the send\n",
		n, float64(sink.Bytes())/float64(n)/1024, wall.Round(time.Second), float64(n)/wall.Seconds(), float64(cpu.Microseconds())/float64(n),
		float64(rss)/(1<<20), float64(goPeak)/(1<<20), float64(after-before)/float64(n), float64(after)/float64(n))
	b.ReportMetric(float64(rss)/(1<<20), fmt.Sprintf("peak-RSS-MB-%d", n))
	b.ReportMetric(float64(n)/wall.Seconds(), fmt.Sprintf("msg/s-%d", n))

	// The read commands' work on that database.
	for _, q := range []struct {
		what string
		run  func() error
	}{
		{"deliveries per relay of the edition (digest deliveries' closing line)", func() error {
			_, err := delivery.CountByRelay(ctx, db, delivery.Filter{EditionID: ed.ID})
			return err
		}},
		{"deliveries --edition N --status unknown (no rows match)", func() error {
			return delivery.EachRecord(ctx, db, delivery.Filter{EditionID: ed.ID, Status: delivery.StatusUnknown}, func(delivery.Record) error { return nil })
		}},
		{"subscribers count", func() error {
			_, err := f.subs.Count(ctx, "")
			return err
		}},
		{"editions report N (every count of the edition, per relay, clicks)", func() error {
			_, err := report.ForEdition(ctx, db, ed.ID)
			return err
		}},
	} {
		t := time.Now()
		if err := q.run(); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("  %s: %s (target < 1 s)\n", q.what, time.Since(t).Round(time.Millisecond))
	}
}

// dbSize checkpoints the write-ahead log and returns the database file's
// size.
func dbSize(b *testing.B, db *store.DB, path string) int64 {
	b.Helper()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}
