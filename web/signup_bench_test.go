package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/digest"
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
	var sets []string
	for mask := 1; len(sets) < 20; mask++ {
		var in []string
		for j, s := range secs {
			if mask&(1<<j) != 0 {
				in = append(in, s)
			}
		}
		if len(in) < len(secs) {
			sort.Strings(in)
			sets = append(sets, strings.Join(in, ","))
		}
	}
	tx, _ := ss.db.BeginTx(ctx, nil)
	for i := range 100_000 {
		var id int64
		tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, token, created_at, updated_at) VALUES (?, ?, 0, 0) RETURNING id`,
			fmt.Sprintf("r%d@example.com", i), fmt.Sprintf("tok%040d", i)).Scan(&id)
		tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, sections, created_at, updated_at) VALUES (1, ?, 'active', ?, 0, 0)`, id, sets[i%20])
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	list, _ := ss.subs.GetList(ctx, "daily")
	eds := &digest.Editions{DB: ss.db}
	ed, _, err := eds.Build(ctx, digest.Composer{}, list, "", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		ss.db.ExecContext(ctx, `DELETE FROM edition_variants`)
		vs, err := eds.PrepareVariants(ctx, digest.Composer{}, ed, list)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(vs.Composed), "composed")
	}
}
