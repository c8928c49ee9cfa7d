package peakmem

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ResetPeakRSS starts the kernel's peak resident set (VmHWM) afresh, so
// that PeakRSS reports the peak of what follows (Linux; a no-op
// elsewhere).
func ResetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSS is the process's peak resident set in bytes since the start or
// the last ResetPeakRSS: what the operating system saw, everything
// included. 0 when /proc is not there.
func PeakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPU is the process's CPU time so far, user and system.
func CPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
