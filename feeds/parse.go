package feeds

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"
	"golang.org/x/net/html"

	"github.com/newsroom/digest/internal/oneline"
)

// MaxTeaser caps the teaser kept from an item's summary, in runes: the
// edition cuts teasers far shorter, and a full article in the summary
// should not fill the database.
const MaxTeaser = 2000

// Item is one entry of a feed or a sitemap as digest reads it: text
// fields stripped of markup, links absolute.
type Item struct {
	// Position is the entry's place in the document, from 1, for errors.
	Position   int
	GUID       string
	Link       string
	Title      string
	Teaser     string
	Image      string
	Published  time.Time // zero when the entry has no date
	Categories []string
}

// Document is a parsed feed or sitemap.
type Document struct {
	Title string
	Items []Item
	// Sitemaps lists the child sitemaps of a sitemap index.
	Sitemaps []string
	// Unread counts entries the parser could not reach: gofeed's lenient
	// XML reading stops at a broken tag without an error, and the items
	// after it would otherwise vanish silently.
	Unread int
}

// ErrNotFeed reports a body that is not RSS, Atom or JSON Feed.
var ErrNotFeed = errors.New("not a feed")

// ParseFeed reads RSS 0.9x/1.0/2.0, Atom 1.0 or JSON Feed from body with
// gofeed; relative links are resolved against base, the document's URL.
func ParseFeed(body []byte, base *url.URL) (*Document, error) {
	p := gofeed.NewParser()
	f, err := p.Parse(bytes.NewReader(body))
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		return nil, fmt.Errorf("the document is %w (RSS, Atom or JSON Feed)%s", ErrNotFeed, sniff(body))
	}
	if err != nil {
		return nil, fmt.Errorf("the feed does not parse: %v", oneLineErr(err))
	}
	doc := &Document{Title: plainText(f.Title)}
	for i, it := range f.Items {
		if it == nil {
			continue
		}
		item := Item{
			Position: i + 1,
			GUID:     strings.TrimSpace(it.GUID),
			Link:     resolve(base, firstNonEmpty(it.Link, first(it.Links))),
			Title:    plainText(it.Title),
			Teaser:   teaser(firstNonEmpty(it.Description, it.Content)),
			Image:    resolve(base, itemImage(it)),
		}
		switch {
		case it.PublishedParsed != nil:
			item.Published = it.PublishedParsed.UTC()
		case it.UpdatedParsed != nil:
			item.Published = it.UpdatedParsed.UTC()
		}
		for _, c := range it.Categories {
			if c = strings.TrimSpace(c); c != "" {
				item.Categories = append(item.Categories, c)
			}
		}
		doc.Items = append(doc.Items, item)
	}
	if f.FeedType == "rss" || f.FeedType == "atom" {
		tag := "<item"
		if f.FeedType == "atom" {
			tag = "<entry"
		}
		if n := countTags(body, tag); n > len(f.Items) {
			doc.Unread = n - len(f.Items)
		}
	}
	return doc, nil
}

// countTags counts start tags named like tag ("<item" followed by ">",
// white space or "/"), outside CDATA sections.
func countTags(body []byte, tag string) int {
	n := 0
	for len(body) > 0 {
		i := bytes.Index(body, []byte(tag))
		c := bytes.Index(body, []byte("<![CDATA["))
		if c >= 0 && (i < 0 || c < i) {
			end := bytes.Index(body[c:], []byte("]]>"))
			if end < 0 {
				return n
			}
			body = body[c+end+3:]
			continue
		}
		if i < 0 {
			return n
		}
		body = body[i+len(tag):]
		if len(body) > 0 && (body[0] == '>' || body[0] == '/' || body[0] == ' ' || body[0] == '\t' || body[0] == '\n' || body[0] == '\r') {
			n++
		}
	}
	return n
}

// sniff says what a body that is not a feed looks like, for the error.
func sniff(body []byte) string {
	head := bytes.ToLower(bytes.TrimSpace(body[:min(len(body), 512)]))
	switch {
	case len(head) == 0:
		return ": the body is empty"
	case bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.Contains(head, []byte("<html")):
		return ": it is an HTML page (point digest at the feed's own URL)"
	case bytes.Contains(head, []byte("<urlset")) || bytes.Contains(head, []byte("<sitemapindex")):
		return ": it is a sitemap (add it with --type sitemap)"
	}
	return ""
}

// oneLineErr folds an error onto one line (internal/oneline).
func oneLineErr(err error) string { return oneline.String(err.Error()) }

func first(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// resolve makes ref absolute against base; a ref that does not parse is
// returned as it is, for the item check to report.
func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || base == nil {
		return ref
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return base.ResolveReference(u).String()
}

// itemImage takes the image gofeed found (itunes:image, media:content of
// an image type, an image enclosure, the first <img> of the content),
// else a media:thumbnail or media:group content.
func itemImage(it *gofeed.Item) string {
	if it.Image != nil && it.Image.URL != "" {
		return it.Image.URL
	}
	for _, enc := range it.Enclosures {
		if enc != nil && strings.HasPrefix(enc.Type, "image/") {
			return enc.URL
		}
	}
	media := it.Extensions["media"]
	if media == nil {
		return ""
	}
	for _, t := range media["thumbnail"] {
		if u := t.Attrs["url"]; u != "" {
			return u
		}
	}
	for _, g := range media["group"] {
		if u := mediaImage(g.Children); u != "" {
			return u
		}
	}
	return mediaImage(map[string][]ext.Extension{"content": media["content"]})
}

func mediaImage(children map[string][]ext.Extension) string {
	for _, c := range children["content"] {
		if strings.Contains(c.Attrs["type"], "image") || c.Attrs["medium"] == "image" {
			return c.Attrs["url"]
		}
	}
	for _, t := range children["thumbnail"] {
		if u := t.Attrs["url"]; u != "" {
			return u
		}
	}
	return ""
}

// plainText turns a title that may carry markup or entities (Atom's
// type="html", double-escaped RSS) into one line of text.
func plainText(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "<") && strings.Contains(s, ">") {
		s = htmlText(s)
	} else {
		s = html.UnescapeString(s)
	}
	return oneline.String(s)
}

// teaser is an item's summary as text: tags removed, entities decoded,
// white space folded, cut at MaxTeaser runes.
func teaser(s string) string {
	t := oneline.String(htmlText(s))
	if utf8.RuneCountInString(t) > MaxTeaser {
		r := []rune(t)[:MaxTeaser]
		t = strings.TrimSpace(string(r))
	}
	return t
}

// htmlText is the text of an HTML fragment, without script and style.
func htmlText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				skip++
			case "br", "p", "div", "li":
				b.WriteByte(' ')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				if skip > 0 {
					skip--
				}
			case "p", "div", "li":
				b.WriteByte(' ')
			}
		}
	}
}

// Sitemap documents (encoding/xml matches elements by local name, so the
// news: and image: prefixes need not be spelled).
type sitemapDoc struct {
	XMLName  xml.Name
	URLs     []sitemapURL `xml:"url"`
	Sitemaps []struct {
		Loc string `xml:"loc"`
	} `xml:"sitemap"`
}

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod"`
	News    struct {
		Title           string `xml:"title"`
		PublicationDate string `xml:"publication_date"`
		Keywords        string `xml:"keywords"`
	} `xml:"news"`
	Images []struct {
		Loc string `xml:"loc"`
	} `xml:"image"`
}

// ParseSitemap reads a Google News sitemap (urlset with news:news
// entries) or a sitemap index, whose child sitemaps it lists.
func ParseSitemap(body []byte, base *url.URL) (*Document, error) {
	var sm sitemapDoc
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	if err := dec.Decode(&sm); err != nil {
		return nil, fmt.Errorf("the sitemap is not XML: %v", oneLineErr(err))
	}
	doc := &Document{}
	switch sm.XMLName.Local {
	case "sitemapindex":
		for _, s := range sm.Sitemaps {
			if loc := resolve(base, s.Loc); loc != "" {
				doc.Sitemaps = append(doc.Sitemaps, loc)
			}
		}
		return doc, nil
	case "urlset":
	default:
		return nil, fmt.Errorf("the document is not a sitemap: its root is <%s>, not <urlset> or <sitemapindex>", sm.XMLName.Local)
	}
	for i, u := range sm.URLs {
		item := Item{
			Position: i + 1,
			Link:     resolve(base, u.Loc),
			Title:    plainText(u.News.Title),
		}
		item.Published = parseW3CDate(firstNonEmpty(u.News.PublicationDate, u.LastMod))
		if len(u.Images) > 0 {
			item.Image = resolve(base, u.Images[0].Loc)
		}
		for _, k := range strings.Split(u.News.Keywords, ",") {
			if k = strings.TrimSpace(k); k != "" {
				item.Categories = append(item.Categories, k)
			}
		}
		doc.Items = append(doc.Items, item)
	}
	return doc, nil
}

// parseW3CDate reads the W3C datetime forms sitemaps use (a date, or a
// time with or without seconds); zero when none fits.
func parseW3CDate(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
