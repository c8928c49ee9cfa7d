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
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/peakmem"
	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/subscribers"
)

// BenchmarkEngineVsRaw measures, in one run against one local SMTP sink
// and over the same number of connections, on two editions:
//
//   - real: the seed front page's 13 stories (internal/sample), as digest
//     demo sends them: about 19 KB per message (12.7 KB HTML and 3 KB
//     text before encoding);
//   - 60k: 72 stories with images and bylines, 8 sections of 4 lead
//     stories with teasers and the rest as headlines, about 60 KB per
//     message;
//
// three senders, each phase interleaved with the others, rounds times:
//
//   - gomail: a plain go-mail program that builds one mail.Msg per
//     recipient (the edition personalised into strings, go-mail's default
//     client, so NOOP before and RSET after each message);
//   - prebuilt: go-mail re-sending one pre-built message per connection
//     with its defaults, the lean ceiling: no per-recipient work at all;
//   - engine: Sender.Send for the whole list, ledger and all.
//
// Each message's size is measured at the sink, printed and checked
// against the sizes above (±15%). The documented command (README,
// Performance) is
//
//	go test ./delivery -run '^$' -bench EngineVsRaw -benchtime 1x
//
// DIGEST_BENCH_N sets the list size (default 10000),
// DIGEST_BENCH_CONNS the connections (default 4), DIGEST_BENCH_ROUNDS the
// rounds (default 3, medians count), DIGEST_BENCH_PHASES which phases run
// (default gomail,prebuilt,engine; raw-lean is go-mail pre-built without
// NOOP and RSET; the phases carry pprof labels for -cpuprofile),
// DIGEST_BENCH_EDITIONS which editions (default real,60k) and
// DIGEST_LEDGER_SYNC the engine's ledger durability (full, the default, or
// normal).
func BenchmarkEngineVsRaw(b *testing.B) {
	n := envInt("DIGEST_BENCH_N", 10000)
	conns := envInt("DIGEST_BENCH_CONNS", 4)
	for _, edition := range strings.Split(envString("DIGEST_BENCH_EDITIONS", "real,60k"), ",") {
		b.Run(edition, func(b *testing.B) {
			f := newFixture(b, n)
			var wantKB float64
			switch edition {
			case "real":
				f.addFrontPage()
				wantKB = 19
			case "60k":
				f.addStories(72, 300)
				f.maxPerSection(4) // more lead stories, with teasers and images
				wantKB = 60
			default:
				b.Fatalf("DIGEST_BENCH_EDITIONS: unknown edition %q (real, 60k)", edition)
			}
			// Today: the stories were published in the hours before now,
			// inside today's edition window.
			ed := f.edition(time.Now().UTC().Format(time.DateOnly))
			benchEngineVsRaw(b, f, ed, n, conns, wantKB)
		})
	}
}

func benchEngineVsRaw(b *testing.B, f *fixture, ed digest.Edition, n, conns int, wantKB float64) {
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
	var subs []subscribers.Subscriber
	for _, e := range f.emails {
		s, err := f.subs.Get(f.ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, s)
	}
	phases := strings.Split(envString("DIGEST_BENCH_PHASES", "gomail,prebuilt,engine"), ",")
	rounds := envInt("DIGEST_BENCH_ROUNDS", 3)
	b.ResetTimer()
	for range b.N {
		// The machine is shared: every phase runs rounds times,
		// interleaved, and the median counts.
		rates := map[string][]float64{}
		cpus := map[string][]float64{}
		sizes := map[string]float64{}
		var peakBytes uint64
		for round := range rounds {
			for _, phase := range phases {
				var sent int
				before := sink.Bytes()
				runtime.GC()
				peak := peakmem.Watch()
				c0, start := peakmem.CPU(), time.Now()
				pprof.Do(f.ctx, pprof.Labels("phase", phase), func(ctx context.Context) {
					switch phase {
					case "gomail":
						sent = gomailSend(b, cfg, f, ed, subs, conns)
					case "prebuilt":
						sent = rawSend(b, cfg, msgs, n, nil)
					case "raw-lean":
						sent = rawSend(b, cfg, msgs, n, []mail.Option{mail.WithoutNoop(), mail.WithoutRset()})
					case "engine":
						sent = engineSend(b, f, cfg, ed, conns)
					default:
						b.Fatalf("DIGEST_BENCH_PHASES: unknown phase %q (gomail, prebuilt, raw-lean, engine)", phase)
					}
				})
				wall, cpu := time.Since(start), peakmem.CPU()-c0
				if p := peak(); phase == "engine" && p > peakBytes {
					peakBytes = p
				}
				sizes[phase] = float64(sink.Bytes()-before) / float64(sent)
				rate := float64(sent) / wall.Seconds()
				rates[phase] = append(rates[phase], rate)
				cpus[phase] = append(cpus[phase], float64(cpu.Microseconds())/float64(sent))
				fmt.Printf("round %d: %-8s %6.0f msg/s, %4.0f µs CPU per message (sink included)\n", round+1, phase, rate, cpus[phase][len(cpus[phase])-1])
			}
		}
		fmt.Printf("%s: %d recipients, %d connections, median of %d rounds:\n", b.Name(), n, conns, rounds)
		med := map[string]float64{}
		for _, phase := range phases {
			med[phase] = median(rates[phase])
			b.ReportMetric(med[phase], phase+"-msg/s")
			kb := sizes[phase] / 1024
			fmt.Printf("  %-8s %6.0f msg/s, %4.0f µs CPU per message, %.1f KB per message\n", phase, med[phase], median(cpus[phase]), kb)
			if kb < wantKB*0.85 || kb > wantKB*1.15 {
				b.Fatalf("%s sent %.1f KB per message, the comment says about %.0f KB: fix the edition or the comment", phase, kb, wantKB)
			}
		}
		if e, ok := med["engine"]; ok {
			for _, base := range []struct{ phase, target string }{{"gomail", "1.0"}, {"prebuilt", "0.9"}, {"raw-lean", ""}} {
				if r, ok := med[base.phase]; ok {
					b.ReportMetric(e/r, "x-"+base.phase)
					target := ""
					if base.target != "" {
						target = " (target >= " + base.target + "x)"
					}
					fmt.Printf("engine = %.2fx %s%s\n", e/r, base.phase, target)
				}
			}
			b.ReportMetric(float64(peakBytes)/(1<<20), "peak-MB")
			fmt.Printf("peak Go memory during the engine runs, sink included: %.1f MB\n", float64(peakBytes)/(1<<20))
		}
	}
}

// gomailSend is the plain go-mail program: for each recipient it
// personalises the edition into strings, builds a mail.Msg with the same
// headers and sends it with go-mail's default client, conns connections
// in parallel.
func gomailSend(b *testing.B, cfg delivery.SMTPConfig, f *fixture, ed digest.Edition, subs []subscribers.Subscriber, conns int) int {
	b.Helper()
	tmpl := ed.Template()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mail.NewClient(cfg.Host, mail.WithPort(cfg.Port), mail.WithTLSPolicy(mail.NoTLS))
			if err == nil {
				err = c.DialWithContext(context.Background())
			}
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			for j := i; j < len(subs); j += conns {
				s := subs[j]
				r := digest.RecipientFor(s, f.list.Name, "https://news.example.com")
				m := mail.NewMsg()
				m.From(f.list.From)
				m.AddToFormat(s.Name, s.Email)
				m.Subject(ed.Subject)
				m.SetDate()
				m.SetMessageID()
				m.SetListUnsubscribe(r.UnsubscribeURL)
				m.SetBulk()
				m.SetBodyString(mail.TypeTextPlain, tmpl.Text(r))
				m.AddAlternativeString(mail.TypeTextHTML, tmpl.HTML(r))
				if err := c.Send(m); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("plain go-mail: %d sends failed", failed.Load())
	}
	return len(subs)
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
