// Package browsertest starts the headless Chromium of Debian's chromium
// package for browser tests (chromedp), and keeps their screenshots as
// test artefacts. Tests that drive pages a person sees on a phone (the
// web preview, the sign-up and preference pages) share it, so the rule
// "skip without Chromium, fail under DIGEST_REQUIRE_BROWSER=1" is one.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Start starts headless Chromium for the test, or skips the test when it
// is not installed (and fails instead under DIGEST_REQUIRE_BROWSER=1, as
// CI sets it, so a missing browser cannot pass unnoticed). The browser
// ends with the test.
func Start(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		msg := fmt.Sprintf("browser test needs Chromium at %s (apt-get install chromium): %v", ChromiumPath, err)
		if os.Getenv("DIGEST_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + "; DIGEST_REQUIRE_BROWSER=1 makes this a failure")
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	return ctx
}

// Keep writes a screenshot into $DIGEST_SCREENSHOTS (CI keeps that
// folder as artefacts) or, unset, into the test's temporary folder, and
// returns its path.
func Keep(t testing.TB, name string, png []byte) string {
	t.Helper()
	dir := os.Getenv("DIGEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
	return path
}
