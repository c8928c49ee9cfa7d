package subscribers_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/newsroom/digest/internal/sample"
	"github.com/newsroom/digest/subscribers"
)

// benchRows is the size the issue names: 100,000 subscribers.
const benchRows = 100000

func sampleCSV(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	if err := sample.SubscribersCSV(&buf, n); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkImport100k imports 100,000 new subscribers into an empty
// database file (target: under 5 s). Run with -benchtime 1x.
func BenchmarkImport100k(b *testing.B) {
	data := sampleCSV(b, benchRows)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openStore(b)
		b.StartTimer()
		sum, err := s.Import(context.Background(), bytes.NewReader(data), subscribers.ImportOptions{})
		if err != nil || sum.Added != benchRows {
			b.Fatalf("%+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReimport100k imports the same 100,000 rows into a database
// that already holds them: every row is looked up and found unchanged.
func BenchmarkReimport100k(b *testing.B) {
	data := sampleCSV(b, benchRows)
	s := openStore(b)
	if _, err := s.Import(context.Background(), bytes.NewReader(data), subscribers.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := s.Import(context.Background(), bytes.NewReader(data), subscribers.ImportOptions{})
		if err != nil || sum.Unchanged != benchRows {
			b.Fatalf("%+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// countingWriter counts bytes and keeps none: what streams out of Export
// or EachMember is never held.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkExport100k exports 100,000 subscribers; heap-inuse is the
// live heap after the export, which stays flat when rows stream.
func BenchmarkExport100k(b *testing.B) {
	s := openStore(b)
	if _, err := s.Import(context.Background(), bytes.NewReader(sampleCSV(b, benchRows)), subscribers.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var w countingWriter
	for i := 0; i < b.N; i++ {
		n, err := s.Export(context.Background(), io.Writer(&w), subscribers.Filter{})
		if err != nil || n != benchRows {
			b.Fatalf("%d %v", n, err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	reportHeap(b)
}

// BenchmarkEachMember100k walks 100,000 memberships, as subscribers list
// --json does.
func BenchmarkEachMember100k(b *testing.B) {
	s := openStore(b)
	if _, err := s.Import(context.Background(), bytes.NewReader(sampleCSV(b, benchRows)), subscribers.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := s.EachMember(context.Background(), subscribers.Filter{List: "daily"}, func(subscribers.Member) error { n++; return nil })
		if err != nil || n != benchRows {
			b.Fatalf("%d %v", n, err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	reportHeap(b)
}

func reportHeap(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
}
