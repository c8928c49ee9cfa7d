package feeds

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
)

// bigFeed is an RSS document of n items under prefix, shaped like a
// newsroom's: GUIDs, categories, HTML summaries, media images.
func bigFeed(n int, prefix string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Big</title><link>https://big.example.com/</link><description>d</description>`)
	for i := range n {
		fmt.Fprintf(&b, `<item><title>Story number %d about the council &amp; the harbour</title><link>https://big.example.com/%s/%d?utm_source=rss</link>`+
			`<guid isPermaLink="false">%s-%d</guid><pubDate>%s</pubDate><category>Politics</category>`+
			`<description><![CDATA[<p>The <b>council</b> met on the %dth to discuss the harbour, the trams and the budget for next year.</p>]]></description>`+
			`<media:content url="https://cdn.example.com/%d.jpg" medium="image"/></item>`,
			i, prefix, i, prefix, i, testStart.Add(-time.Duration(i)*time.Minute).Format(time.RFC1123Z), i%28+1, i)
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

func benchDB(b *testing.B) *store.DB {
	db := storetest.Open(b)
	return db
}

// BenchmarkParseAndStore1000 parses a 1,000-item feed and stores every
// item as a new story (one transaction), as a first fetch does.
func BenchmarkParseAndStore1000(b *testing.B) {
	const n = 1000
	db := benchDB(b)
	s := &Store{DB: db, Now: func() time.Time { return testStart }}
	m, _ := ParseCategoryMap("Politics=americas")
	docs := make([][]byte, b.N)
	for i := range docs {
		docs[i] = bigFeed(n, fmt.Sprint("r", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := Feed{URL: fmt.Sprintf("https://big.example.com/feed%d.xml", i), CategoryMap: m}
		if err := s.Add(context.Background(), &f); err != nil {
			b.Fatal(err)
		}
		doc, err := ParseFeed(docs[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := s.Ingest(context.Background(), &f, doc)
		if err != nil || c.New != n {
			b.Fatalf("%+v %v", c, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkRefetchUnchanged1000 is the same feed fetched again with no
// validators (a server without ETag): parse and match, no writes.
func BenchmarkRefetchUnchanged1000(b *testing.B) {
	const n = 1000
	db := benchDB(b)
	s := &Store{DB: db, Now: func() time.Time { return testStart }}
	body := bigFeed(n, "u")
	f := Feed{URL: "https://big.example.com/feed.xml"}
	s.Add(context.Background(), &f)
	doc, _ := ParseFeed(body, nil)
	s.Ingest(context.Background(), &f, doc)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc, err := ParseFeed(body, nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := s.Ingest(context.Background(), &f, doc)
		if err != nil || c.Unchanged != n {
			b.Fatalf("%+v %v", c, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkRound500NotModified is one poll round over 500 due feeds that
// a local server answers 304: the cost of feeds that did not change.
// peak-heap-MB is the largest live heap seen during the rounds.
func BenchmarkRound500NotModified(b *testing.B) {
	const feeds = 500
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("If-None-Match") != `"v1"` {
			b.Errorf("request without the stored ETag")
		}
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	db := benchDB(b)
	clk := clock.NewManual(testStart)
	s := &Store{DB: db, Now: clk.Now}
	for i := range feeds {
		f := Feed{URL: fmt.Sprintf("%s/feed/%d.xml", srv.URL, i), AllowPrivate: true}
		if err := s.Add(context.Background(), &f); err != nil {
			b.Fatal(err)
		}
	}
	db.Exec(`UPDATE feeds SET etag = '"v1"'`)
	p := &Poller{Feeds: s, Fetcher: &Fetcher{}}

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clk.Add(7 * time.Hour) // every feed due again
		res, err := p.Round(context.Background())
		if err != nil || len(res) != feeds {
			b.Fatalf("%d results, %v", len(res), err)
		}
		for _, r := range res {
			if !r.NotModified {
				b.Fatalf("%+v", r)
			}
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(feeds*b.N)/b.Elapsed().Seconds(), "feeds/s")
}
