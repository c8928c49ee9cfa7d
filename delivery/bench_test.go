package delivery_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/peakmem"
	"github.com/newsroom/digest/internal/smtptest"
)

// BenchmarkEngineVsRaw measures, in one run against one local SMTP sink:
//
//   - raw: go-mail alone sending pre-built messages over the same number
//     of connections, once with go-mail's defaults (NOOP before and RSET
//     after each message) and once without them (the round trips the
//     engine skips), the ceilings the engine is held to;
//   - engine: Sender.Send for the whole list, ledger and all.
//
// The documented command (README, Performance) is
//
//	go test ./delivery -run '^$' -bench EngineVsRaw -benchtime 1x
//
// DIGEST_BENCH_N sets the list size (default 10000),
// DIGEST_BENCH_CONNS the connections (default 4), DIGEST_BENCH_ROUNDS the
// rounds (default 3, medians count), DIGEST_BENCH_PHASES which phases run
// (default raw,raw-lean,engine; one alone is handy with -cpuprofile, the
// phases carry pprof labels) and DIGEST_LEDGER_SYNC the engine's ledger
// durability (full, the default, or normal).
func BenchmarkEngineVsRaw(b *testing.B) {
	n := envInt("DIGEST_BENCH_N", 10000)
	conns := envInt("DIGEST_BENCH_CONNS", 4)
	f := newFixture(b, n)
	f.addStories(26, 420) // about 40 KB once encoded
	ed := f.edition("2026-11-28")
	sink := smtptest.Start(b, func(s *smtptest.Server) { s.Discard = true })
	cfg, err := delivery.ParseSMTPURL(sink.URL())
	if err != nil {
		b.Fatal(err)
	}

	// One pre-built message per connection, sent n/conns times each.
	sub, err := f.subs.Get(f.ctx, f.emails[0])
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*mail.Msg, conns)
	for i := range msgs {
		if msgs[i], err = delivery.BuildMessage(ed, delivery.Envelope{List: f.list, Sub: sub, BaseURL: "https://news.example.com"}); err != nil {
			b.Fatal(err)
		}
	}
	phases := strings.Split(envString("DIGEST_BENCH_PHASES", "raw,raw-lean,engine"), ",")
	rounds := envInt("DIGEST_BENCH_ROUNDS", 3)
	b.ResetTimer()
	for range b.N {
		// The machine is shared: every phase runs rounds times,
		// interleaved, and the median counts.
		rates := map[string][]float64{}
		cpus := map[string][]float64{}
		var size float64
		var peakBytes uint64
		for round := range rounds {
			for _, phase := range phases {
				var sent int
				before := sink.Bytes()
				runtime.GC()
				peak := peakmem.Watch()
				c0, start := cpuTime(), time.Now()
				pprof.Do(f.ctx, pprof.Labels("phase", phase), func(ctx context.Context) {
					switch phase {
					case "raw":
						sent = rawSend(b, cfg, msgs, n, nil)
					case "raw-lean":
						sent = rawSend(b, cfg, msgs, n, []mail.Option{mail.WithoutNoop(), mail.WithoutRset()})
					case "engine":
						sent = engineSend(b, f, cfg, ed, conns)
					default:
						b.Fatalf("DIGEST_BENCH_PHASES: unknown phase %q (raw, raw-lean, engine)", phase)
					}
				})
				wall, cpu := time.Since(start), cpuTime()-c0
				if p := peak(); phase == "engine" && p > peakBytes {
					peakBytes = p
				}
				size = float64(sink.Bytes()-before) / float64(sent)
				rate := float64(sent) / wall.Seconds()
				rates[phase] = append(rates[phase], rate)
				cpus[phase] = append(cpus[phase], float64(cpu.Microseconds())/float64(sent))
				fmt.Printf("round %d: %-8s %6.0f msg/s, %4.0f µs CPU per message (sink included)\n", round+1, phase, rate, cpus[phase][len(cpus[phase])-1])
			}
		}
		fmt.Printf("%d recipients, %.1f KB per message, %d connections, median of %d rounds:\n", n, size/1024, conns, rounds)
		med := map[string]float64{}
		for _, phase := range phases {
			med[phase] = median(rates[phase])
			b.ReportMetric(med[phase], phase+"-msg/s")
			fmt.Printf("  %-8s %6.0f msg/s, %4.0f µs CPU per message\n", phase, med[phase], median(cpus[phase]))
		}
		if e, ok := med["engine"]; ok {
			if r, ok := med["raw"]; ok {
				b.ReportMetric(100*e/r, "%-of-raw")
				fmt.Printf("engine = %.0f%% of raw go-mail (target >= 80%%)\n", 100*e/r)
			}
			if r, ok := med["raw-lean"]; ok {
				b.ReportMetric(100*e/r, "%-of-raw-lean")
				fmt.Printf("engine = %.0f%% of raw go-mail without NOOP+RSET\n", 100*e/r)
			}
			b.ReportMetric(float64(peakBytes)/(1<<20), "peak-MB")
			fmt.Printf("peak Go memory during the engine runs, sink included: %.1f MB (target < 150 MB)\n", float64(peakBytes)/(1<<20))
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// engineSend runs Sender.Send over the whole list and returns the number
// sent; the ledger is cleared first so that every round sends again.
func engineSend(b *testing.B, f *fixture, cfg delivery.SMTPConfig, ed digest.Edition, conns int) int {
	if _, err := f.db.Exec(`DELETE FROM deliveries WHERE edition_id = ?`, ed.ID); err != nil {
		b.Fatal(err)
	}
	tr, err := delivery.NewSMTP(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	s := &delivery.Sender{DB: f.db, Transport: tr, BaseURL: "https://news.example.com", Concurrency: conns,
		LedgerSync: envString("DIGEST_LEDGER_SYNC", delivery.LedgerSyncFull)}
	sum, err := s.Send(f.ctx, ed, f.list)
	if err != nil || sum.Sent != len(f.emails) {
		b.Fatalf("engine: %+v, %v", sum, err)
	}
	return sum.Sent
}

// rawSend sends msgs[i] over connection i, n messages in all, and
// returns how many it sent.
func rawSend(b *testing.B, cfg delivery.SMTPConfig, msgs []*mail.Msg, n int, extra []mail.Option) int {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, m := range msgs {
		count := n / len(msgs)
		if i < n%len(msgs) {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := append([]mail.Option{mail.WithPort(cfg.Port), mail.WithTLSPolicy(mail.NoTLS)}, extra...)
			c, err := mail.NewClient(cfg.Host, opts...)
			if err != nil {
				failed.Add(int64(count))
				return
			}
			if err := c.DialWithContext(context.Background()); err != nil {
				failed.Add(int64(count))
				return
			}
			defer c.Close()
			for range count {
				if err := c.Send(m); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("raw go-mail: %d sends failed", failed.Load())
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
