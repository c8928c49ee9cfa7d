package web_test

import (
	"bytes"
	"fmt"
	"image/png"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/newsroom/digest/internal/browsertest"
	"github.com/newsroom/digest/web"
)

// phoneWidth is the viewport of the test: an iPhone SE / mini class
// phone, the narrowest readers commonly have.
const phoneWidth = 375

// pageFit is what the test reads of a page to judge it on a phone.
type pageFit struct {
	ScrollWidth int `json:"scrollWidth"`
	InnerWidth  int `json:"innerWidth"`
	// Outside are elements whose box pokes out of the viewport's sides.
	Outside []string `json:"outside"`
	// Small are buttons, inputs and links smaller than a finger (24 px
	// high, WCAG 2.2 target size minimum).
	Small []string `json:"small"`
}

const inspectPage = `(() => {
  const w = window.innerWidth, out = [], small = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : '') + ' ' + (el.textContent || el.value || '').trim().slice(0, 30);
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility() || el.closest('.hp')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.left < -0.5 || r.right > w + 0.5)) out.push(name(el) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    if (el.matches('button, input:not([type=hidden]), a') && r.height < 24 && !el.closest('label')) small.push(name(el) + ' ' + Math.round(r.height) + 'px');
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: w, outside: out, small: small};
})()`

func TestBrowserSignupAndPreferencesOnAPhone(t *testing.T) {
	ctx := browsertest.Start(t)
	// The real minimum form age (2 s): the test waits it out like a
	// person filling in the form would. BaseURL "" makes the mailed link
	// point at this server, so the browser can follow it.
	ss := newSignupSite(t, func(s *web.Server) { s.Signup.BaseURL = "" })
	// A longer title and a wordy section show what wraps on a phone.
	if _, err := ss.db.ExecContext(ss.ctx, `UPDATE lists SET title = 'The Springfield Chronicle Morning Briefing' WHERE name = 'daily'`); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.db.ExecContext(ss.ctx, `INSERT INTO sections (name, title, display_order, max_stories, created_at) VALUES ('science', 'Science, Technology and the Environment', 3, 3, 0)`); err != nil {
		t.Fatal(err)
	}
	check := func(name string) {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", name, err)
		}
		if w := img.Bounds().Dx(); w != phoneWidth {
			t.Errorf("%s: screenshot %d px wide, want %d", name, w, phoneWidth)
		}
		browsertest.Keep(t, fmt.Sprintf("%s-%d.png", name, phoneWidth), shot)
		fit, err := chromedp.Run(ctx, chromedp.Evaluate[pageFit](inspectPage))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fit.InnerWidth != phoneWidth {
			t.Errorf("%s: viewport %d px, want %d", name, fit.InnerWidth, phoneWidth)
		}
		if fit.ScrollWidth > fit.InnerWidth {
			t.Errorf("%s scrolls sideways at %d px: content %d px wide", name, phoneWidth, fit.ScrollWidth)
		}
		for _, o := range fit.Outside {
			t.Errorf("%s: element outside the %d px viewport: %s", name, phoneWidth, o)
		}
		for _, s := range fit.Small {
			t.Errorf("%s: target too small for a finger: %s", name, s)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 700, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}

	// The form: type an address and a name, tick two sections, submit
	// once the signed render time is old enough.
	if err := chromedp.Do(ctx, chromedp.Navigate(ss.srv.URL+"/subscribe/daily"), chromedp.WaitVisible(chromedp.ID("email"))); err != nil {
		t.Fatal(err)
	}
	loaded := time.Now()
	check("signup-form")
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("name"), "Ada"),
		chromedp.Click(chromedp.CSS(`input[name=section][value=economy]`)),
		chromedp.Click(chromedp.CSS(`input[name=section][value=science]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	check("signup-filled")
	if wait := web.DefaultMinFormAge + 300*time.Millisecond - time.Since(loaded); wait > 0 {
		time.Sleep(wait) // a person takes longer than the minimum; the test must too
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your inbox")]`))); err != nil {
		t.Fatal(err)
	}
	check("signup-check-inbox")
	if n := ss.count(`SELECT COUNT(*) FROM memberships`); n != 0 {
		t.Fatalf("the sign-up made %d memberships before any confirmation", n)
	}

	// The mail: one confirmation, whose link the browser follows.
	msgs := ss.mails()
	if len(msgs) != 1 || msgs[0].To[0] != "ada@example.com" {
		t.Fatalf("want one confirmation to ada@example.com, got %d", len(msgs))
	}
	link := regexp.MustCompile(regexp.QuoteMeta(ss.srv.URL) + `/confirm/[A-Za-z0-9_-]+`).FindString(part(t, msgs[0].Data, "text/html"))
	if link == "" {
		t.Fatalf("no link to %s/confirm/ in the confirmation", ss.srv.URL)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	check("confirm")
	if n := ss.count(`SELECT COUNT(*) FROM memberships`); n != 0 {
		t.Fatal("opening the confirmation link activated the membership; only the button may")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "You are subscribed")]`))); err != nil {
		t.Fatal(err)
	}
	check("confirmed")
	var status, sections string
	ss.db.QueryRowContext(ss.ctx, `SELECT status, sections FROM memberships`).Scan(&status, &sections)
	if status != "active" || sections != "economy,science" {
		t.Fatalf("after the button: membership %q with sections %q, want active with economy,science", status, sections)
	}

	// The preference page, from the confirmation page's link: another
	// section set, weekly, a pause; saved with its button.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "Choose sections")]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Your email preferences")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	check("preferences")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name=section][value=economy]`)), // untick
		chromedp.Click(chromedp.CSS(`input[name=section][value=sport]`)),
		chromedp.Click(chromedp.CSS(`input[name=frequency][value=weekly]`)),
		chromedp.Click(chromedp.ID("pause-daily")),
		// A date field takes the digits of the locale's order (en-US:
		// month, day, year), as a person types them.
		chromedp.SendKeys(chromedp.ID("pause-daily"), "03152030"),
	)
	if err != nil {
		t.Fatal(err)
	}
	check("preferences-changed")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value=save]`)), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Saved.")]`))); err != nil {
		t.Fatal(err)
	}
	check("preferences-saved")
	var freq, paused string
	ss.db.QueryRowContext(ss.ctx, `SELECT status, sections, frequency, paused_until FROM memberships`).Scan(&status, &sections, &freq, &paused)
	if status != "active" || sections != "science,sport" || freq != "weekly" || paused != "2030-03-15" {
		t.Errorf("after saving: %s, sections %q, frequency %q, paused until %q; want active, science,sport, weekly, 2030-03-15", status, sections, freq, paused)
	}
	// The saved page shows the saved choices.
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input:checked')].map(i => i.value)`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(checked, " "); got != "sport science weekly" {
		t.Errorf("the saved page shows %q ticked, want sport science weekly (page order)", got)
	}
}
