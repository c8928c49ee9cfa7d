package stories_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/peakmem"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
)

// BenchmarkImport300k imports a file of 300,000 stories (one JSON object
// per line, 30 sections, about 300 bytes each) into a fresh store and
// prints stories per second and the peak memory: the target is at least
// 30,000 stories/s with a peak under 100 MB. The documented command
// (README, Performance) is
//
//	go test ./stories -run '^$' -bench Import300k -benchtime 1x
//
// DIGEST_BENCH_STORIES changes the count.
func BenchmarkImport300k(b *testing.B) {
	n := 300000
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_STORIES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "stories.jsonl")
	writeStoriesFile(b, path, n)
	info, _ := os.Stat(path)
	b.ResetTimer()
	for i := range b.N {
		ctx := context.Background()
		db, err := store.Open(ctx, filepath.Join(dir, fmt.Sprintf("digest%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		peakmem.ResetPeakRSS()
		peak := peakmem.Watch()
		start := time.Now()
		got, err := (&stories.Store{DB: db}).Import(ctx, f)
		took := time.Since(start)
		goPeak, rss := peak(), peakmem.PeakRSS()
		f.Close()
		if err != nil || got != n {
			b.Fatalf("import: %d, %v", got, err)
		}
		var stored int
		db.QueryRow(`SELECT COUNT(*) FROM stories`).Scan(&stored)
		db.Close()
		if stored != n {
			b.Fatalf("%d stories stored, want %d", stored, n)
		}
		rate := float64(n) / took.Seconds()
		b.ReportMetric(rate, "stories/s")
		b.ReportMetric(float64(goPeak)/(1<<20), "peak-MB")
		fmt.Printf("imported %d stories (%.0f MB file) in %s: %.0f stories/s (target >= 30,000); peak Go memory %.1f MB, peak RSS %.1f MB (target < 100 MB)\n",
			n, float64(info.Size())/(1<<20), took.Round(time.Millisecond), rate, float64(goPeak)/(1<<20), float64(rss)/(1<<20))
	}
}

// writeStoriesFile writes n stories, one JSON object per line, spread
// over 30 sections and the 90 days before now.
func writeStoriesFile(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	now := time.Now().UTC()
	for i := range n {
		at := now.Add(-time.Duration(i%(90*24)) * time.Hour).Format(time.RFC3339)
		fmt.Fprintf(w, `{"section": "Section %02d", "title": "Story %d about something that matters to the newsroom's readers", "url": "https://news.example.com/%d/story-%d", "teaser": "A teaser of a hundred and some characters that says what the story is about, so that the reader clicks.", "published_at": "%s", "score": %d}`+"\n",
			i%30, i, i%90, i, at, i%100)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}
