package htmlcheck_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matcornic/hermes/v2"
	"golang.org/x/net/html"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/htmlcheck"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

func loadData(t *testing.T) *htmlcheck.Data {
	t.Helper()
	f, err := os.Open("testdata/caniemail.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := htmlcheck.LoadData(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// edition is a typical day: three sections, teasers or not, and a few
// more headlines.
func edition() digest.Selection {
	pub := time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC)
	st := func(id int64, section, title, teaser string) stories.Story {
		return stories.Story{ID: id, Section: section, Title: title, Teaser: teaser, URL: "https://news.example.com/" + strings.ToLower(strings.Fields(title)[0]), PublishedAt: pub}
	}
	return digest.Selection{
		List: subscribers.List{ID: 1, Name: "daily", Title: "The Daily Digest", PostalAddress: "1 Newsroom Street, Springfield", Language: "en", Direction: "ltr"},
		Date: "2026-11-28",
		Blocks: []digest.Block{
			{Section: stories.Section{Name: "Americas"}, Stories: []stories.Story{
				st(1, "Americas", "Putin not ready to recognise Biden", "'We will work with anyone who has the confidence of the American people,' Putin said."),
				st(2, "Americas", "Biden to announce first Cabinet picks", "Scaled-down versions of the existing traditions are planned."),
			}},
			{Section: stories.Section{Name: "Economy"}, Stories: []stories.Story{
				st(3, "Economy", "Global markets rally on vaccine hopes", ""),
			}},
			{Section: stories.Section{Name: "Transport"}, Stories: []stories.Story{
				st(4, "Transport", "Dubai Metro's new route opens", "The 15 km extension links seven stations."),
			}},
		},
		More: []stories.Story{st(5, "Technology", "Top selling smartphones revealed", ""), st(6, "News", "Winter festival dates announced", "")},
	}
}

// ours renders the edition as subscribers get it.
func ours(t *testing.T) string {
	t.Helper()
	ed, err := digest.Composer{BaseURL: "https://news.example.com", Brand: templates.DefaultBrand}.Compose(edition())
	if err != nil {
		t.Fatal(err)
	}
	html, _ := ed.Personalize(digest.Recipient{Name: "Ada", UnsubscribeURL: "https://news.example.com/u/token?list=daily"})
	return html
}

// hermesDefault renders the same edition as a newsroom would with
// hermes' default theme: greeting, a table of the stories, a READ MORE
// button per section story and the unsubscribe line.
func hermesDefault(t *testing.T) string {
	t.Helper()
	sel := edition()
	var rows [][]hermes.Entry
	var actions []hermes.Action
	for _, b := range sel.Blocks {
		for _, s := range b.Stories {
			rows = append(rows, []hermes.Entry{{Key: "Section", Value: b.Section.Name}, {Key: "Story", Value: s.Title}, {Key: "Teaser", Value: s.Teaser}})
			actions = append(actions, hermes.Action{Instructions: s.Title, Button: hermes.Button{Text: "READ MORE", Link: s.URL}})
		}
	}
	for _, s := range sel.More {
		rows = append(rows, []hermes.Entry{{Key: "Section", Value: s.Section}, {Key: "Story", Value: s.Title}, {Key: "Teaser", Value: ""}})
	}
	h := hermes.Hermes{Theme: new(hermes.Default), Product: hermes.Product{Name: "The Daily Digest", Link: "https://news.example.com"}}
	out, err := h.GenerateHTML(hermes.Email{Body: hermes.Body{
		Name:    "Ada",
		Intros:  []string{"Here are today's top stories."},
		Table:   hermes.Table{Data: rows},
		Actions: actions,
		Outros:  []string{"Unsubscribe: https://news.example.com/u/token?list=daily"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestThemeSupport prints both scores (go test ./internal/htmlcheck -run
// TestThemeSupport -v) and holds digest's theme to at least hermes'
// default theme's score and full-support client count.
func TestThemeSupport(t *testing.T) {
	d := loadData(t)
	our, err := d.Check(ours(t))
	if err != nil {
		t.Fatal(err)
	}
	def, err := d.Check(hermesDefault(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("digest theme:\n%s", our)
	t.Logf("hermes default theme:\n%s", def)
	if our.Score < def.Score {
		t.Errorf("digest's theme scores %.1f%%, below hermes' default theme's %.1f%%", our.Score, def.Score)
	}
	if our.FullClients < def.FullClients {
		t.Errorf("digest's theme is fully supported by %d clients, hermes' default theme by %d", our.FullClients, def.FullClients)
	}
	for _, f := range our.Unscored {
		if f == "html-script" {
			t.Error("the theme has a <script>")
		}
	}
}

func TestDetect(t *testing.T) {
	doc := `<!DOCTYPE html><html lang="en" dir="rtl"><head>
<meta name="color-scheme" content="light dark">
<style>/* note */ body { margin: 0 } .a b, *:not(br) { color: red !important }
a:hover { text-decoration: underline }
@media (prefers-color-scheme: dark) { .x > .y { background-color: rgb(0,0,0) } }</style></head>
<body><table role="presentation" width="600" cellpadding="0" align="center"><tr><td style="padding-top: 4px; border-bottom: 1px solid #ccc; display: none">x</td></tr></table>
<a href="#" target="_blank" aria-label="x">y</a></body></html>`
	used, err := htmlcheck.Detect(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"html-doctype", "html-lang", "html-dir", "html-meta-color-scheme", "html-style", "html-role", "html-width",
		"html-cellpadding", "html-align", "html-target", "html-aria-label",
		"css-comments", "css-selector-type", "css-selector-class", "css-selector-descendant", "css-selector-universal",
		"css-pseudo-class-not", "css-pseudo-class-hover", "css-selector-child", "css-important", "css-margin", "css-color",
		"css-text-decoration", "css-at-media", "css-at-media-prefers-color-scheme", "css-background-color", "css-rgb",
		"css-padding", "css-border", "css-display", "css-display-none",
	} {
		if used[want] == 0 {
			t.Errorf("%s not detected", want)
		}
	}
	if used["html-script"] != 0 || used["css-selector-id"] != 0 {
		t.Errorf("false positives: %v", used)
	}
	// An XHTML doctype is not the HTML5 doctype.
	used, _ = htmlcheck.Detect(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd"><html></html>`)
	if used["html-doctype"] != 0 {
		t.Error("XHTML doctype counted as HTML5")
	}
}

func TestScore(t *testing.T) {
	d := loadData(t)
	// Padding is supported or partly supported everywhere; text-shadow
	// not in Gmail: adding it must lower the score.
	plain, err := d.Check(`<p style="padding: 4px">x</p>`)
	if err != nil {
		t.Fatal(err)
	}
	shadow, _ := d.Check(`<p style="padding: 4px; text-shadow: 0 1px 0 white">x</p>`)
	if plain.Score <= shadow.Score || plain.Score > 100 || shadow.Score <= 0 {
		t.Errorf("scores: plain %.1f, with text-shadow %.1f", plain.Score, shadow.Score)
	}
	if len(shadow.Features) != 2 || shadow.Features[0].Slug != "css-text-shadow" {
		t.Errorf("features not sorted worst first: %+v", shadow.Features)
	}
	unknown, _ := d.Check(`<p style="mso-hide: all">x</p>`)
	if len(unknown.Unscored) != 1 || unknown.Unscored[0] != "css-mso-hide" || unknown.Clients != 0 {
		t.Errorf("unknown feature: %+v", unknown)
	}
}

// TestThemeIsMailSafe checks what caniemail's data does not score: no
// script of any kind, lang and dir on the document, a single column at
// most 600 px wide that shrinks on a phone, layout tables marked as
// presentation, and every image (the theme has none today) with alt text.
func TestThemeIsMailSafe(t *testing.T) {
	doc, err := html.Parse(strings.NewReader(ours(t)))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s> has an event handler %s", n.Data, a.Key)
				}
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("<%s %s> is a javascript: URL", n.Data, a.Key)
				}
			}
			switch n.Data {
			case "script", "iframe", "object", "embed", "form":
				t.Errorf("the theme has a <%s>", n.Data)
			case "html":
				if attrs["lang"] != "en" || attrs["dir"] != "ltr" {
					t.Errorf("<html> lang %q dir %q", attrs["lang"], attrs["dir"])
				}
			case "table":
				if attrs["role"] != "presentation" {
					t.Errorf("layout table without role=presentation: %v", attrs)
				}
				if strings.Contains(attrs["class"], "container") &&
					(attrs["width"] != "100%" || !strings.Contains(attrs["style"], "max-width:600px")) {
					t.Errorf("container is not fluid up to 600 px: %v", attrs)
				}
			case "img":
				if _, ok := attrs["alt"]; !ok {
					t.Errorf("image without alt: %v", attrs)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}
