package fitness_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/fitness"
)

// mailpit starts Mailpit for the test, or skips it when there is none
// (and fails instead under DIGEST_REQUIRE_MAILPIT=1, as CI sets it).
func mailpit(t *testing.T) *fitness.Mailpit {
	t.Helper()
	bin, err := fitness.FindMailpit()
	if err != nil {
		if os.Getenv("DIGEST_REQUIRE_MAILPIT") == "1" {
			t.Fatalf("%v; DIGEST_REQUIRE_MAILPIT=1 makes this a failure", err)
		}
		t.Skipf("skipping the Mailpit check: %v", err)
	}
	m, err := fitness.Start(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func render(t *testing.T, sel digest.Selection) (digest.Edition, string, string) {
	t.Helper()
	ed, err := fitness.Render(sel)
	if err != nil {
		t.Fatal(err)
	}
	h, tx := fitness.Personal(ed, sel.List)
	return ed, h, tx
}

// TestMailpitFitness holds each fixed edition, delivered over SMTP, to
// the targets on Mailpit's HTML check (go test ./internal/fitness -run
// TestMailpitFitness -v prints the figures) and to better than hermes'
// default theme on the same edition.
func TestMailpitFitness(t *testing.T) {
	m := mailpit(t)
	ctx := context.Background()
	for _, c := range fitness.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			ed, _, _ := render(t, c.Sel)
			r, err := m.Measure(ctx, ed, c.Sel.List)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("digest theme: %s", r)
			if !r.Meets() {
				t.Errorf("%s edition: %s; targets: at least %.0f %% supported, at most %.1f %% unsupported",
					c.Name, r.Summary(), fitness.MinSupported, fitness.MaxUnsupported)
			}
			def, err := fitness.HermesDefault(c.Sel)
			if err != nil {
				t.Fatal(err)
			}
			d, err := m.Measure(ctx, def, c.Sel.List)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("hermes default theme: %s", d)
			if r.Total.Supported <= d.Total.Supported {
				t.Errorf("digest's theme (%.1f %%) is not better than hermes' default (%.1f %%)", r.Total.Supported, d.Total.Supported)
			}
		})
	}
}

// readMoreSpan is the other way to tell a screen reader which story a
// READ MORE link opens: the headline in a visually hidden span inside
// the link, instead of aria-label.
var readMoreLink = regexp.MustCompile(`<a ([^>]*)aria-label="Read more: ([^"]*)"([^>]*)><strong>READ MORE</strong>`)

func readMoreSpan(h string) string {
	return readMoreLink.ReplaceAllString(h, `<a $1$3><strong>READ MORE</strong><span style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap">: $2</span>`)
}

// TestReadMoreLabelCost measures what each way of naming READ MORE
// links costs on Mailpit's check; the theme uses aria-label, which the
// check does not count. It asserts only that the variant was built.
func TestReadMoreLabelCost(t *testing.T) {
	m := mailpit(t)
	ctx := context.Background()
	sel := fitness.Typical()
	ed, _, _ := render(t, sel)
	variant := ed
	variant.HTML = readMoreSpan(ed.HTML)
	if variant.HTML == ed.HTML {
		t.Fatal("no READ MORE link rewritten: the theme's link markup changed")
	}
	for _, v := range []struct {
		name string
		ed   digest.Edition
	}{{"aria-label (theme)", ed}, {"visually hidden span", variant}} {
		r, err := m.Measure(ctx, v.ed, sel.List)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", v.name, r.Summary())
	}
}

// TestContrast computes the contrast of every text colour on its
// background in every fixed edition, light and dark, preheader and
// footer included, and holds it to WCAG AA.
func TestContrast(t *testing.T) {
	cases := append(fitness.Cases(), fitness.Case{Name: "largest", Sel: fitness.Largest()})
	for _, c := range cases {
		_, h, _ := render(t, c.Sel)
		for _, dark := range []bool{false, true} {
			texts, err := fitness.Contrast(h, dark)
			if err != nil {
				t.Fatal(err)
			}
			if len(texts) < 10 {
				t.Fatalf("%s: only %d runs of text found", c.Name, len(texts))
			}
			worst := texts[0]
			for _, tx := range texts {
				if !tx.OK() {
					t.Errorf("%s, dark %v: %s", c.Name, dark, tx)
				}
				if tx.Ratio-tx.Min < worst.Ratio-worst.Min {
					worst = tx
				}
			}
			t.Logf("%s, dark %v: %d runs of text, closest to its minimum: %s", c.Name, dark, len(texts), worst)
		}
	}
}

func TestContrastFindsLowContrast(t *testing.T) {
	doc := `<html><head><style>@media (prefers-color-scheme: dark) { .d { background-color: #111111 !important; } }</style></head>
<body bgcolor="#ffffff"><div style="color:#777777;font-size:14px">grey</div><h1 style="color:#777777">big grey</h1>
<div class="d" style="color:#222222">dark on dark</div><a href="x">link</a></body></html>`
	light, err := fitness.Contrast(doc, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, tx := range light {
		got[tx.Snippet] = tx.OK()
	}
	want := map[string]bool{"grey": false, "big grey": true, "dark on dark": true, "link": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("light: %v, want %v", got, want)
	}
	dark, _ := fitness.Contrast(doc, true)
	for _, tx := range dark {
		if tx.Snippet == "dark on dark" && tx.OK() {
			t.Errorf("dark rule not applied: %s", tx)
		}
	}
	if r, _ := fitness.ContrastRatio("#000", "#ffffff"); r < 20.99 || r > 21.01 {
		t.Errorf("black on white = %.2f, want 21", r)
	}
}

// TestLargestEditionUnderGmailClip builds the largest edition the
// defaults allow, with pictures, and asserts its delivered HTML stays
// under Gmail's 102 KB clipping limit.
func TestLargestEditionUnderGmailClip(t *testing.T) {
	sel := fitness.Largest()
	ed, h, _ := render(t, sel)
	const limit = 102 * 1024
	t.Logf("largest edition: %d stories, %d bytes of HTML (limit %d)", len(ed.StoryIDs), len(h), limit)
	if len(h) >= limit {
		t.Errorf("largest edition's HTML is %d bytes, over Gmail's %d", len(h), limit)
	}
	if strings.Count(h, "<img ") != ed.Leads {
		t.Errorf("%d images for %d lead stories", strings.Count(h, "<img "), ed.Leads)
	}
}

// TestPlainText: lines at most 78 characters unless a single URL is
// longer, no URL broken, every link of the HTML part listed.
func TestPlainText(t *testing.T) {
	cases := append(fitness.Cases(), fitness.Case{Name: "largest", Sel: fitness.Largest()})
	for _, c := range cases {
		_, h, tx := render(t, c.Sel)
		for i, l := range strings.Split(tx, "\n") {
			if n := utf8.RuneCountInString(l); n > digest.TextWidth && strings.ContainsRune(l, ' ') {
				t.Errorf("%s: line %d is %d characters: %q", c.Name, i+1, n, l)
			}
		}
		words := map[string]bool{}
		for _, w := range strings.Fields(tx) {
			words[w] = true
		}
		for _, link := range hrefs(t, h) {
			if !words[link] {
				t.Errorf("%s: link %s is not in the text part as a whole word", c.Name, link)
			}
		}
	}
}

func hrefs(t *testing.T, doc string) []string {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if len(out) == 0 {
		t.Fatal("no links in the HTML part")
	}
	return out
}

// TestThemeIsAccessibleAndMailSafe checks what Mailpit does not: no
// script; lang, dir and a <title> that is the subject; layout tables
// marked as presentation; headings in order; every image with alt text
// (the headline); body text at 16 px or more; a fluid column held at 600
// px with a ghost table for Outlook.
func TestThemeIsAccessibleAndMailSafe(t *testing.T) {
	for _, c := range fitness.Cases() {
		ed, h, _ := render(t, c.Sel)
		root, err := html.Parse(strings.NewReader(h))
		if err != nil {
			t.Fatal(err)
		}
		lastLevel, images := 0, 0
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				attrs := map[string]string{}
				for _, a := range n.Attr {
					attrs[a.Key] = a.Val
					if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
						t.Errorf("%s: <%s %s> is script", c.Name, n.Data, a.Key)
					}
				}
				switch n.Data {
				case "script", "iframe", "object", "embed", "form":
					t.Errorf("%s: the theme has a <%s>", c.Name, n.Data)
				case "html":
					if attrs["lang"] != c.Sel.List.Language || attrs["dir"] != c.Sel.List.Direction {
						t.Errorf("%s: <html> lang %q dir %q", c.Name, attrs["lang"], attrs["dir"])
					}
				case "title":
					if n.FirstChild == nil || n.FirstChild.Data != ed.Subject {
						t.Errorf("%s: <title> is not the subject %q", c.Name, ed.Subject)
					}
				case "table":
					if attrs["role"] != "presentation" {
						t.Errorf("%s: layout table without role=presentation: %v", c.Name, attrs)
					}
				case "h1", "h2", "h3", "h4", "h5", "h6":
					level := int(n.Data[1] - '0')
					if level > lastLevel+1 {
						t.Errorf("%s: <%s> follows <h%d>", c.Name, n.Data, lastLevel)
					}
					lastLevel = level
				case "img":
					images++
					if attrs["alt"] == "" {
						t.Errorf("%s: image without alt: %v", c.Name, attrs)
					}
				}
				if strings.Contains(attrs["style"], "margin:") && n.Data != "body" {
					t.Errorf("%s: <%s> uses margin (%s): space with cell padding", c.Name, n.Data, attrs["style"])
				}
			}
			for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
				walk(ch)
			}
		}
		walk(root)
		if c.Name == "images" && images != ed.Leads {
			t.Errorf("images edition: %d images for %d lead stories", images, ed.Leads)
		}
		if !strings.Contains(h, `<!--[if mso]><table role="presentation" width="600"`) || !strings.Contains(h, "max-width:600px") {
			t.Errorf("%s: no 600 px ghost table for Outlook or no max-width", c.Name)
		}
		if strings.Contains(h, "@media only screen") || strings.Count(h, "@media") != 1 {
			t.Errorf("%s: the layout depends on a media query; only the dark-mode block is expected", c.Name)
		}
		// Nothing under 14 px; teasers, greeting and headlines (the
		// dm-text and dm-ink classes) 16 px or more.
		for _, tx := range mustContrast(t, h) {
			if tx.SizePx < 14 {
				t.Errorf("%s: %q at %.0f px", c.Name, tx.Snippet, tx.SizePx)
			}
		}
		for _, s := range regexp.MustCompile(`class="dm-(?:text|ink)"[^>]*font-size:(\d+)px`).FindAllStringSubmatch(h, -1) {
			if px, _ := strconv.Atoi(s[1]); px < 16 {
				t.Errorf("%s: body text at %s px", c.Name, s[1])
			}
		}
	}
}

func mustContrast(t *testing.T, h string) []fitness.Text {
	texts, err := fitness.Contrast(h, false)
	if err != nil {
		t.Fatal(err)
	}
	return texts
}

func TestFindMailpitHonoursEnv(t *testing.T) {
	t.Setenv("DIGEST_MAILPIT", "/nonexistent/mailpit")
	if _, err := fitness.FindMailpit(); err == nil || errors.Is(err, fitness.ErrNoMailpit) || !strings.Contains(err.Error(), "DIGEST_MAILPIT") {
		t.Errorf("FindMailpit with a missing DIGEST_MAILPIT: %v", err)
	}
}

// TestContrastWithBrandAccents renders the typical edition in brands
// whose accents fail 4.5:1 as set (a yellow on white, a dark blue in
// dark mode) and holds every run of text, the brand's name and the
// accented section names and READ MORE links included, to WCAG AA in
// both schemes.
func TestContrastWithBrandAccents(t *testing.T) {
	for _, accent := range []string{"#ffcc00", "#0b5394", "#888888"} {
		c := fitness.Composer()
		c.Brand.Accent = accent
		sel := fitness.Typical()
		ed, err := c.Compose(sel)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := fitness.Personal(ed, sel.List)
		for _, dark := range []bool{false, true} {
			texts, err := fitness.Contrast(h, dark)
			if err != nil {
				t.Fatal(err)
			}
			accented := 0
			for _, tx := range texts {
				if !tx.OK() {
					t.Errorf("accent %s, dark %v: %s", accent, dark, tx)
				}
				if tx.Snippet == fitness.Brand.Name {
					accented++
				}
			}
			if accented != 2 {
				t.Errorf("accent %s, dark %v: brand name found %d times, want 2 (masthead, footer)", accent, dark, accented)
			}
		}
	}
}
