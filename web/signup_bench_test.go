package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/peakmem"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/web"
)

// BenchmarkSubscribePost measures POST /subscribe on loopback: each
// request a new address, a valid stamp, a pending sign-up stored and a
// confirmation queued to the in-process SMTP server. It reports
// requests per second and the p99 latency.
//
//	go test ./web -run '^$' -bench SubscribePost -benchtime 2000x
func BenchmarkSubscribePost(b *testing.B) {
	ss := newSignupSite(b, func(s *web.Server) {
		s.Signup.MinFormAge = time.Nanosecond
		s.Signup.Burst = 1 << 30
		s.Signup.Rate = 1 << 30
	})
	stamp := ss.form()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var n atomic.Int64
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		body := url.Values{"email": {fmt.Sprintf("r%d@example.com", n.Add(1))}, "ts": {stamp}}.Encode()
		t0 := time.Now()
		res, err := client.Post(ss.srv.URL+"/subscribe/daily", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	ss.web.WaitConfirmations()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkVariants100k prepares the variants of one edition for
// 100,000 readers spread over 20 distinct section sets: it reports how
// many variants were composed (20, not 100,000), and the time and heap
// growth of doing so. The SMTP send itself is measured by delivery's
// benchmarks; a variant only swaps the template a recipient is filled
// from.
//
//	go test ./web -run '^$' -bench Variants100k -benchtime 1x -benchmem
func BenchmarkVariants100k(b *testing.B) {
	ss, list, ed := variantsSite(b, 100_000, 20)
	eds := &digest.Editions{DB: ss.db}
	b.ResetTimer()
	for range b.N {
		ss.db.ExecContext(ss.ctx, `DELETE FROM edition_variants`)
		vs, err := eds.PrepareVariants(ss.ctx, digest.Composer{}, ed, list)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(vs.Composed), "composed")
	}
}

// variantsSite is a site whose daily list has n active readers spread
// evenly over sets distinct section sets (of five sections with three
// stories each; 1 puts everyone on every section, the unsplit edition),
// and today's edition built.
func variantsSite(b *testing.B, n, sets int) (*signupSite, subscribers.List, digest.Edition) {
	ss := newSignupSite(b, nil)
	ctx := ss.ctx
	for _, name := range []string{"tech", "culture"} {
		ss.db.ExecContext(ctx, `INSERT INTO sections (name, title, display_order, max_stories, created_at) VALUES (?, ?, 9, 3, 0)`, name, name)
	}
	now := time.Now()
	secs := []string{"world", "economy", "sport", "tech", "culture"}
	for i := range 15 {
		ss.db.ExecContext(ctx, `INSERT INTO stories (section_id, title, url, teaser, published_at, created_at, updated_at)
			VALUES ((SELECT id FROM sections WHERE name = ?), ?, ?, 'A teaser of the story.', ?, 0, 0)`, secs[i%5], fmt.Sprintf("Story %d", i),
			fmt.Sprintf("https://news.example.com/%d", i), now.Add(-time.Duration(i+1)*time.Minute).Unix())
	}
	keys := []string{""}
	for mask := 1; sets > 1 && len(keys) < sets+1; mask++ {
		var in []string
		for j, s := range secs {
			if mask&(1<<j) != 0 {
				in = append(in, s)
			}
		}
		if len(in) < len(secs) {
			sort.Strings(in)
			keys = append(keys, strings.Join(in, ","))
		}
	}
	if sets > 1 {
		keys = keys[1:]
	}
	tx, _ := ss.db.BeginTx(ctx, nil)
	for i := range n {
		var id int64
		tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, token, pref_token, created_at, updated_at) VALUES (?, ?, ?, 0, 0) RETURNING id`,
			fmt.Sprintf("r%d@example.com", i), fmt.Sprintf("tok%040d", i), fmt.Sprintf("prf%040d", i)).Scan(&id)
		tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, sections, created_at, updated_at) VALUES (1, ?, 'active', ?, 0, 0)`, id, keys[i%len(keys)])
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	list, _ := ss.subs.GetList(ctx, "daily")
	ed, _, err := (&digest.Editions{DB: ss.db}).Build(ctx, digest.Composer{}, list, "", false)
	if err != nil {
		b.Fatal(err)
	}
	return ss, list, ed
}

// BenchmarkSend100kVariants sends one edition to 100,000 readers spread
// over 20 distinct section sets through the real engine (delivery.Sender,
// 4 connections, the ledger with its default fsync) to an in-process
// SMTP server that counts and discards: it reports the variants
// composed (20, not 100,000), the wall time of the send, messages per
// second and the peak memory the Go runtime held from the OS during it
// (the sink and SQLite included). It takes about a minute, so it runs
// only with DIGEST_BENCH_SEND=1 (DIGEST_BENCH_N changes the size,
// DIGEST_BENCH_SETS=1 sends everyone the unsplit edition, for comparison):
//
//	DIGEST_BENCH_SEND=1 go test ./web -run '^$' -bench Send100kVariants -benchtime 1x
func BenchmarkSend100kVariants(b *testing.B) {
	if os.Getenv("DIGEST_BENCH_SEND") != "1" {
		b.Skip("takes about a minute: set DIGEST_BENCH_SEND=1")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	sets := 20
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_SETS")); err == nil && v > 0 {
		sets = v
	}
	ss, list, ed := variantsSite(b, n, sets)
	sink := smtptest.Start(b, func(s *smtptest.Server) { s.Discard = true })
	cfg, err := delivery.ParseSMTPURL(sink.URL())
	if err != nil {
		b.Fatal(err)
	}
	eds := &digest.Editions{DB: ss.db}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ss.db.ExecContext(ss.ctx, `DELETE FROM deliveries`)
		ss.db.ExecContext(ss.ctx, `DELETE FROM edition_variants`)
		tr, err := delivery.NewSMTP(cfg)
		if err != nil {
			b.Fatal(err)
		}
		s := &delivery.Sender{DB: ss.db, Transport: tr, BaseURL: "https://news.example.com", Concurrency: 4,
			Variants: func(ctx context.Context, ed digest.Edition, l subscribers.List) (*digest.Variants, error) {
				return eds.PrepareVariants(ctx, digest.Composer{}, ed, l)
			}}
		runtime.GC()
		peak := peakmem.Watch()
		b.StartTimer()
		start := time.Now()
		sum, err := s.Send(ss.ctx, ed, list)
		wall := time.Since(start)
		b.StopTimer()
		peakBytes := peak()
		tr.Close()
		if err != nil || sum.Sent != n {
			b.Fatalf("send: %+v, %v", sum, err)
		}
		b.ReportMetric(float64(sum.Composed), "composed")
		b.ReportMetric(float64(sum.Variants), "variants")
		b.ReportMetric(float64(n)/wall.Seconds(), "msg/s")
		b.ReportMetric(float64(peakBytes)/(1<<20), "peak-MB")
		fmt.Printf("%d readers over %d section sets: %d variants composed, sent in %.1f s (%.0f msg/s, %.1f KB per message), peak Go memory %.1f MB\n",
			n, sets, sum.Composed, wall.Seconds(), float64(n)/wall.Seconds(), float64(sink.Bytes())/float64(n)/1024, float64(peakBytes)/(1<<20))
	}
}
