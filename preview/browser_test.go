package preview_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/newsroom/digest/internal/browsertest"
	"github.com/newsroom/digest/preview"
)

// browser starts headless Chromium for the test (see browsertest.Start:
// skipped without it, a failure under DIGEST_REQUIRE_BROWSER=1).
func browser(t *testing.T) context.Context { return browsertest.Start(t) }

// element is what the test learns about a link inside the email.
type element struct {
	Text    string  `json:"text"`
	Left    float64 `json:"left"`
	Right   float64 `json:"right"`
	Width   float64 `json:"width"`
	Height  float64 `json:"height"`
	Visible bool    `json:"visible"`
}

type frameReport struct {
	ScrollWidth int       `json:"scrollWidth"`
	InnerWidth  int       `json:"innerWidth"`
	Links       []element `json:"links"`
	Direction   string    `json:"direction"`
}

// inspectFrame reads the email inside the preview's iframe: its widths
// and every link with its box and visibility (checkVisibility looks at
// display, visibility and opacity of the element and its ancestors).
const inspectFrame = `(() => {
  const f = document.querySelector(%q);
  const d = f.contentDocument, w = d.defaultView;
  return {
    scrollWidth: d.documentElement.scrollWidth,
    innerWidth: w.innerWidth,
    direction: w.getComputedStyle(d.body).direction,
    links: [...d.querySelectorAll('a')].map(a => {
      const r = a.getBoundingClientRect();
      return {text: a.textContent.trim(), left: r.left, right: r.right, width: r.width, height: r.height,
              visible: a.checkVisibility({opacityProperty: true, visibilityProperty: true})};
    }),
  };
})()`

func TestBrowserPreview(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	e.sample()
	e.add("Rest of Asia", "G20 leaders pledge fair supplies of Covid vaccine, a headline long enough to wrap on a phone screen", "Leaders of the world's biggest economies pledged to spare no effort.", "https://news.example.com/g20", 4*time.Hour, 2)
	e.add("Transport", "Dubai Metro's new route opens", "", "https://news.example.com/metro", 5*time.Hour, 1)
	if _, err := e.db.ExecContext(e.ctx, `INSERT INTO lists (name, title, from_addr, language, direction, created_at, updated_at)
		VALUES ('arabic', 'النشرة اليومية', 'News <news@example.com>', 'ar', 'rtl', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&preview.Server{Source: e.src}).Handler())
	defer srv.Close()
	ed := e.load("daily", preview.NextDate)
	v := e.render(ed, "")
	dir := t.TempDir()
	// DIGEST_SCREENSHOTS=DIR keeps the screenshots for a person to look
	// at (CI keeps them in artifacts/screenshots).
	shots := []string{"preview-page.png"}
	defer func() {
		if keep := os.Getenv("DIGEST_SCREENSHOTS"); keep != "" {
			os.MkdirAll(keep, 0o755)
			for _, name := range shots {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					os.WriteFile(filepath.Join(keep, name), b, 0o644)
				}
			}
		}
	}()

	// Screenshots of the email at phone and desktop widths, light and
	// dark; in each, no text may be invisible on its background.
	for _, scheme := range []string{"light", "dark"} {
		if err := chromedp.Do(ctx, colorScheme(scheme)); err != nil {
			t.Fatal(err)
		}
		for _, width := range []int64{375, 1200} {
			err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(srv.URL+"/lists/daily/next/html"))
			if err != nil {
				t.Fatalf("load at %d px: %v", width, err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot at %d px: %v", width, err)
			}
			name := fmt.Sprintf("email-%s-%d.png", scheme, width)
			shots = append(shots, name)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatalf("%s is not a PNG: %v", path, err)
			}
			if b := img.Bounds(); int64(b.Dx()) != width || b.Dy() < 600 {
				t.Errorf("%s is %dx%d, want %d px wide and a full page high", path, b.Dx(), b.Dy(), width)
			}
			t.Logf("screenshot %s (%d bytes)", path, len(shot))
			texts, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownText](inspectColours))
			if err != nil {
				t.Fatal(err)
			}
			if len(texts) < 10 {
				t.Fatalf("%s: only %d runs of text found", name, len(texts))
			}
			dark := false
			for _, tx := range texts {
				if tx.FG == tx.BG || tx.Ratio < 3 {
					t.Errorf("%s: text %q is invisible: %s on %s (%.2f:1)", name, tx.Text, tx.FG, tx.BG, tx.Ratio)
				}
				dark = dark || tx.BGLum < 0.05
			}
			if dark != (scheme == "dark") {
				t.Errorf("%s: the page's backgrounds are not %s", name, scheme)
			}
		}
	}
	if err := chromedp.Do(ctx, colorScheme("light")); err != nil {
		t.Fatal(err)
	}
	// The preview page: both iframes, every headline and READ MORE link
	// visible and inside the width, nothing scrolling sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1700, 1000), chromedp.Navigate(srv.URL+"/lists/daily/next")); err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "preview-page.png"), page, 0o644)
	for _, frame := range []struct {
		selector string
		width    int
	}{{"iframe.mobile", 375}, {"iframe.desktop", 1200}} {
		rep, err := chromedp.Run(ctx, chromedp.Evaluate[frameReport](fmt.Sprintf(inspectFrame, frame.selector)))
		if err != nil {
			t.Fatalf("%s: %v", frame.selector, err)
		}
		if rep.InnerWidth != frame.width {
			t.Errorf("%s is %d px wide, want %d", frame.selector, rep.InnerWidth, frame.width)
		}
		if rep.ScrollWidth > rep.InnerWidth {
			t.Errorf("%s scrolls sideways: content %d px in %d px", frame.selector, rep.ScrollWidth, rep.InnerWidth)
		}
		checkLink := func(what string, l element) {
			if !l.Visible || l.Width <= 0 || l.Height <= 0 || l.Left < 0 || l.Right > float64(rep.InnerWidth) {
				t.Errorf("%s: %s %q is not fully visible: %+v (frame %d px)", frame.selector, what, l.Text, l, rep.InnerWidth)
			}
		}
		var readMore int
		for _, l := range rep.Links {
			if strings.HasPrefix(l.Text, "READ MORE") {
				readMore++
				checkLink("READ MORE link", l)
			}
		}
		if readMore != ed.Leads {
			t.Errorf("%s: %d READ MORE links, want one per section story (%d)", frame.selector, readMore, ed.Leads)
		}
		for _, it := range ed.Items {
			found := false
			for _, l := range rep.Links {
				if l.Text == it.Title {
					found = true
					checkLink("headline", l)
				}
			}
			if !found {
				t.Errorf("%s: headline %q not found", frame.selector, it.Title)
			}
		}
		if rep.Direction != "ltr" {
			t.Errorf("%s: direction %q", frame.selector, rep.Direction)
		}
	}

	// The text view shows the plain-text part.
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#text")))
	if err != nil {
		t.Fatal(err)
	}
	if norm(text) != norm(v.Text) {
		t.Errorf("text view differs from the plain-text part:\n%s\n---\n%s", text, v.Text)
	}
	for _, it := range ed.Items {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), it.Title) {
			t.Errorf("text view lacks %q", it.Title)
		}
	}

	// A right-to-left list renders right to left.
	e.add("العالم", "عنوان الخبر", "مقدمة الخبر", "https://news.example.com/ar", time.Minute, 0)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/lists/arabic/next")); err != nil {
		t.Fatal(err)
	}
	rep, err := chromedp.Run(ctx, chromedp.Evaluate[frameReport](fmt.Sprintf(inspectFrame, "iframe.mobile")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Direction != "rtl" || rep.ScrollWidth > rep.InnerWidth {
		t.Errorf("rtl list: direction %q, scroll width %d in %d", rep.Direction, rep.ScrollWidth, rep.InnerWidth)
	}
}

// colorScheme makes the page's prefers-color-scheme light or dark, as
// Apple Mail and Outlook's apps report the reader's setting.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// shownText is a run of visible text with its computed colour and the
// colour of the first opaque background behind it.
type shownText struct {
	Text  string  `json:"text"`
	FG    string  `json:"fg"`
	BG    string  `json:"bg"`
	Ratio float64 `json:"ratio"`
	BGLum float64 `json:"bgLum"`
}

// inspectColours walks every visible text node of the page and reports
// its colour, its background and their WCAG contrast ratio.
const inspectColours = `(() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bgOf = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return getComputedStyle(el).backgroundColor; } return 'rgb(255, 255, 255)'; };
  const out = [];
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode());) {
    const el = n.parentElement, text = n.textContent.replace(/[\s\u034f\u200c]+/g, ' ').trim();
    if (!text || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const fg = getComputedStyle(el).color, bg = bgOf(el);
    const a = lum(rgb(fg)), b = lum(rgb(bg));
    out.push({text: text.slice(0, 40), fg, bg, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), bgLum: b});
  }
  return out;
})()`

// norm makes line ends comparable: the message carries CRLF, the
// browser's innerText LF.
func norm(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
