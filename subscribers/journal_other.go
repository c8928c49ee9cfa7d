//go:build !unix

package subscribers

import "os"

// lockFile has no cross-process lock here; the Journal's mutex still
// orders one process's appends and applies.
func lockFile(*os.File) error { return nil }
