//go:build unix

package subscribers

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock, released when f is closed,
// so that digest serve and digest send on one database do not interleave
// their appends and applies.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
