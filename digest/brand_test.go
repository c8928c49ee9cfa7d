package digest_test

import (
	"strings"
	"testing"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/templates"
)

// TestComposeShowsBrand renders an edition with a brand of the
// newsroom's own and finds its name and link in the masthead above the
// list's title and in the footer beside the postal address, in the HTML
// (escaped: the name carries < and &, the link &) and in the text part;
// and each lead story's byline under its headline.
func TestComposeShowsBrand(t *testing.T) {
	brand := templates.Brand{Name: `Tom & Jerry's <News>`, Link: "https://brand.example.com/?a=1&b=2", Accent: "#0b5394"}
	sel := fixedSelection()
	sel.Blocks[1].Stories[0].Byline = "By Grace Hopper"
	ed, err := digest.Composer{BaseURL: "https://news.example.com", Brand: brand}.Compose(sel)
	if err != nil {
		t.Fatal(err)
	}
	h, tx := ed.HTML, ed.Text

	const name, href = `Tom &amp; Jerry&#39;s &lt;News&gt;`, `href="https://brand.example.com/?a=1&amp;b=2"`
	if strings.Contains(h, "<News>") || strings.Contains(h, "Jerry's") {
		t.Error("the brand name reached the HTML unescaped")
	}
	masthead := `<a ` + href + ` style="color:#0b5394">` + name + `</a>`
	i, title := strings.Index(h, masthead), strings.Index(h, `>The Daily Digest</h1>`)
	if i < 0 || title < 0 || i > title {
		t.Errorf("masthead: brand link %q at %d, list title at %d; want the brand above the title", masthead, i, title)
	}
	footer := `You are receiving The Daily Digest from <a ` + href + ` style="color:#5c5c5c">` + name + `</a> because you subscribed to it.</div>` + "\n" +
		`<div>1 Newsroom Street, Springfield</div>`
	if !strings.Contains(h, footer) {
		t.Errorf("HTML footer lacks %q", footer)
	}
	if n := strings.Count(h, name); n != 2 {
		t.Errorf("brand name %d times in the HTML, want 2 (masthead, footer)", n)
	}

	top := "Tom & Jerry's <News>\nhttps://brand.example.com/?a=1&b=2\n\n****"
	if !strings.HasPrefix(tx, top) {
		t.Errorf("text part starts %q, want the brand and its link above the title: %q", tx[:min(len(tx), 80)], top)
	}
	textFooter := "You are receiving The Daily Digest from Tom & Jerry's <News> because you subscribed to it. https://brand.example.com/?a=1&b=2 1 Newsroom Street, Springfield Unsubscribe:"
	if flat := strings.Join(strings.Fields(tx), " "); !strings.Contains(flat, textFooter) {
		t.Errorf("text footer lacks %q:\n%s", textFooter, tx)
	}

	for _, want := range []string{
		"Putin</a></h3>\n" + `<div class="dm-muted" style="padding-bottom:4px;font-family:Arial, Helvetica, sans-serif;font-size:14px;color:#5c5c5c">By Ada Lovelace &amp; Charles Babbage</div>`,
		"Central Bank</a></h3>\n" + `<div class="dm-muted" style="padding-bottom:4px;font-family:Arial, Helvetica, sans-serif;font-size:14px;color:#5c5c5c">By Grace Hopper</div>`,
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks the byline under its headline: %q", want)
		}
	}
	for _, want := range []string{"*Not ready to recognise Joe Biden as US president: Putin*\nBy Ada Lovelace & Charles Babbage\n", "Central Bank*\nBy Grace Hopper\nREAD MORE"} {
		if !strings.Contains(tx, want) {
			t.Errorf("text lacks the byline under its headline: %q", want)
		}
	}
}

// TestComposeDrawsAccentReadably: a brand accent too light for white is
// drawn in its darkened shade (templates.Brand.Accents), never as set,
// and the dark-mode block carries the dark shade; without a link the
// brand name is plain text.
func TestComposeDrawsAccentReadably(t *testing.T) {
	ed, err := digest.Composer{Brand: templates.Brand{Name: "Sunny Times", Accent: "#ffcc00"}}.Compose(fixedSelection())
	if err != nil {
		t.Fatal(err)
	}
	h := ed.HTML
	if strings.Contains(h, "color:#ffcc00\"") || strings.Contains(h, "color:#ffcc00;") {
		t.Error("the accent #ffcc00 (1.6:1 on white) is drawn as set")
	}
	if !strings.Contains(h, `<strong>Sunny Times</strong>`) || !strings.Contains(h, "color:#856a00") {
		t.Error("masthead lacks the plain brand name or the darkened accent #856a00")
	}
	if !strings.Contains(h, ".dm-accent, .dm-accent a {\ncolor: #ffcc00 !important") {
		t.Error("dark-mode block lacks the accent's dark shade #ffcc00")
	}
	if !strings.Contains(ed.Text, "You are receiving The Daily Digest from Sunny Times because") || strings.Contains(ed.Text, "Sunny Times\nhttp") {
		t.Errorf("text part without a brand link:\n%s", ed.Text)
	}
}
