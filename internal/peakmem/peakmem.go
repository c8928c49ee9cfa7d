// Package peakmem measures the peak memory of a stretch of a benchmark:
// everything the Go runtime holds from the OS (heap, stacks, all of it;
// modernc's SQLite is Go code, so it counts too), sampled every 5 ms.
// The delivery and sign-up benchmarks report their "peak-MB" with it;
// PeakRSS and CPU give what the operating system saw of the process.
package peakmem

import (
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Watch starts sampling and returns a function that stops and reports
// the peak in bytes.
func Watch() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
