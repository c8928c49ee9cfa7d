package digest

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/matcornic/hermes/v2"

	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/templates"
)

// TeaserLength is the longest teaser, in characters, before it is cut at
// a word boundary with an ellipsis.
const TeaserLength = 160

// Ellipsis ends a cut teaser, as on the front page the digest comes from.
const Ellipsis = "..."

// Edition is a composed issue of a list for a date, stored once and sent
// as it is: the HTML and text still hold the per-recipient placeholders.
type Edition struct {
	ID          int64     `json:"id"`
	ListID      int64     `json:"list_id"`
	List        string    `json:"list"`
	Date        string    `json:"date"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Subject     string    `json:"subject"`
	Preheader   string    `json:"preheader"`
	HTML        string    `json:"-"`
	Text        string    `json:"-"`
	StoryIDs    []int64   `json:"story_ids"`
	// Leads counts the StoryIDs shown in section blocks; the rest are
	// "More headlines".
	Leads     int       `json:"leads"`
	CreatedAt time.Time `json:"created_at"`
}

// Composer renders selections through the hermes theme. It holds the
// settings that are the same for every edition.
type Composer struct {
	// BaseURL is the public address of the web endpoints, for the
	// "view in browser" link; empty leaves the link out.
	BaseURL string
	Brand   templates.Brand
}

// Compose renders the selection into an edition: one hermes render for
// the HTML and one for the text, whatever the number of recipients.
func (c Composer) Compose(sel Selection) (Edition, error) {
	ed := Edition{
		ListID:      sel.List.ID,
		List:        sel.List.Name,
		Date:        sel.Date,
		WindowStart: sel.WindowStart,
		WindowEnd:   sel.WindowEnd,
		Subject:     Subject(sel),
		Preheader:   preheader(sel),
	}
	for _, b := range sel.Blocks {
		for _, st := range b.Stories {
			ed.StoryIDs = append(ed.StoryIDs, st.ID)
		}
	}
	ed.Leads = len(ed.StoryIDs)
	for _, st := range sel.More {
		ed.StoryIDs = append(ed.StoryIDs, st.ID)
	}
	h := c.hermes(sel)
	email := c.email(sel, ed.Subject, ed.Preheader)
	var err error
	if ed.HTML, err = h.GenerateHTML(email); err != nil {
		return ed, fmt.Errorf("render html: %w", err)
	}
	if ed.Text, err = h.GeneratePlainText(email); err != nil {
		return ed, fmt.Errorf("render text: %w", err)
	}
	ed.Text = tidyText(ed.Text)
	return ed, nil
}

func (c Composer) hermes(sel Selection) hermes.Hermes {
	brand := c.Brand
	if brand.Name == "" {
		brand = templates.DefaultBrand
	}
	dir := hermes.TDLeftToRight
	if sel.List.Direction == "rtl" {
		dir = hermes.TDRightToLeft
	}
	return hermes.Hermes{
		Theme:         templates.Theme{},
		TextDirection: dir,
		Product: hermes.Product{
			Name: brand.Name,
			Link: brand.Link,
			// A non-empty value keeps hermes from adding its own notice.
			Copyright:   " ",
			TroubleText: " ",
		},
	}
}

func (c Composer) email(sel Selection, subject, pre string) hermes.Email {
	// The accent as drawn: darkened or lightened where the brand's own
	// colour would fall below 4.5:1 (templates.Brand.Accents).
	accent, accentDark := c.Brand.Accents()
	brandName := c.Brand.Name
	if brandName == "" {
		brandName = templates.DefaultBrand.Name
	}
	lang := sel.List.Language
	if lang == "" {
		lang = "en"
	}
	meta := []hermes.Entry{
		{Key: templates.MetaListTitle, Value: sel.List.DisplayTitle()},
		{Key: templates.MetaSubject, Value: subject},
		{Key: templates.MetaDate, Value: longDate(sel.Date)},
		{Key: templates.MetaPreheader, Value: pre},
		{Key: templates.MetaPostal, Value: sel.List.PostalAddress},
		{Key: templates.MetaLang, Value: lang},
		{Key: templates.MetaAccent, Value: accent},
		{Key: metaAccentDark, Value: accentDark},
		{Key: metaBrandName, Value: brandName},
	}
	if c.Brand.Link != "" {
		meta = append(meta, hermes.Entry{Key: metaBrandLink, Value: c.Brand.Link})
	}
	if c.BaseURL != "" {
		meta = append(meta, hermes.Entry{Key: templates.MetaArchiveURL, Value: ArchiveURL(c.BaseURL, sel.List.Name, sel.Date)})
	}
	if sel.Empty() {
		meta = append(meta, hermes.Entry{Key: templates.MetaEmpty, Value: "No new stories were published since the last edition."})
	}
	var rows [][]hermes.Entry
	for _, b := range sel.Blocks {
		rows = append(rows, row(templates.KindSection, b.Section.DisplayName(), "", "", "", ""))
		for _, st := range b.Stories {
			rows = append(rows, withStory(row(templates.KindStory, st.Section, st.Title, st.URL, Truncate(st.Teaser, TeaserLength), ""), st, sel.Images))
		}
	}
	for _, st := range sel.More {
		rows = append(rows, row(templates.KindMore, st.Section, st.Title, st.URL, "", shortDate(st.PublishedAt, sel.List.Location())))
	}
	return hermes.Email{Body: hermes.Body{
		Dictionary: meta,
		Table:      hermes.Table{Data: rows},
		// Hermes fills empty greeting and signature with its own defaults;
		// the theme does not show them.
		Greeting:  " ",
		Signature: " ",
	}}
}

// Keys the theme reads beside the templates package's: the brand in the
// dictionary (hermes.Product carries them too, as .Hermes.Product.Name
// and .Link), and a lead story's byline in its row (its picture is
// templates.ColImage). A key is absent when its value is empty, so the
// theme tests for it with if.
const (
	metaBrandName = "brand_name"
	metaBrandLink = "brand_link"
	// metaAccentDark is the accent of dark mode's @media block.
	metaAccentDark = "accent_dark"
	colByline      = "byline"
)

// withStory adds the lead story's optional picture (sel.Images first,
// then the stored one; its alt text is the title, already in the row)
// and byline.
func withStory(r []hermes.Entry, st stories.Story, images map[int64]Image) []hermes.Entry {
	img := st.Image
	if i, ok := images[st.ID]; ok && i.URL != "" {
		img = i.URL
	}
	if img != "" {
		r = append(r, hermes.Entry{Key: templates.ColImage, Value: img})
	}
	if st.Byline != "" {
		r = append(r, hermes.Entry{Key: colByline, Value: st.Byline})
	}
	return r
}

func row(kind, section, title, link, teaser, date string) []hermes.Entry {
	return []hermes.Entry{
		{Key: templates.ColKind, Value: kind},
		{Key: templates.ColSection, Value: section},
		{Key: templates.ColTitle, Value: title},
		{Key: templates.ColURL, Value: link},
		{Key: templates.ColTeaser, Value: teaser},
		{Key: templates.ColDate, Value: date},
	}
}

// ArchiveURL is the web version of an edition, without personal data.
func ArchiveURL(base, list, date string) string {
	return strings.TrimRight(base, "/") + "/archive/" + url.PathEscape(list) + "/" + url.PathEscape(date)
}

// Subject is "[prefix] List title, Sat 28 Nov 2026: lead headline".
func Subject(sel Selection) string {
	var b strings.Builder
	if p := oneLine(sel.List.SubjectPrefix); p != "" {
		b.WriteString(p)
		b.WriteByte(' ')
	}
	b.WriteString(oneLine(sel.List.DisplayTitle()))
	if d, err := time.Parse(DateLayout, sel.Date); err == nil {
		b.WriteString(", ")
		b.WriteString(d.Format("Mon 2 Jan 2006"))
	}
	if lead, ok := sel.Lead(); ok {
		b.WriteString(": ")
		b.WriteString(Truncate(oneLine(lead.Title), 90))
	}
	return b.String()
}

// preheader is the inbox preview line: the lead's teaser, or the next
// headlines when it has none.
func preheader(sel Selection) string {
	lead, ok := sel.Lead()
	if !ok {
		return "No new stories since the last edition."
	}
	if lead.Teaser != "" {
		return Truncate(oneLine(lead.Teaser), 120)
	}
	var titles []string
	for _, b := range sel.Blocks {
		for _, st := range b.Stories {
			if st.ID != lead.ID {
				titles = append(titles, st.Title)
			}
		}
	}
	return Truncate(oneLine(strings.Join(titles, " · ")), 120)
}

// Truncate shortens s to at most max characters, cutting at the last word
// boundary and adding an ellipsis, as the front page does with teasers.
// Bytes that are not UTF-8 become U+FFFD, so a cut never splits one; a
// max too small for the ellipsis gets as much of the ellipsis as fits.
func Truncate(s string, max int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, string(utf8.RuneError)))
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	limit := max - utf8.RuneCountInString(Ellipsis)
	if limit < 0 {
		if max <= 0 {
			return ""
		}
		return Ellipsis[:max]
	}
	cut, n := 0, 0
	for i, r := range s {
		if n == limit {
			cut = i
			break
		}
		n++
		_ = r
	}
	head := s[:cut]
	// Back up to the last word boundary, unless the cut falls on one.
	if next, _ := utf8.DecodeRuneInString(s[cut:]); !unicode.IsSpace(next) {
		if sp := strings.LastIndexFunc(head, unicode.IsSpace); sp > 0 {
			head = head[:sp]
		}
	}
	head = strings.TrimRightFunc(head, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) && r != '?' && r != '!' && r != '\'' && r != '"'
	})
	return head + Ellipsis
}

func oneLine(s string) string { return oneline.String(s) }

func longDate(date string) string {
	d, err := time.Parse(DateLayout, date)
	if err != nil {
		return date
	}
	return d.Format("Monday, 2 January 2006")
}

func shortDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2 January 2006")
}

// TextWidth is where the plain-text part wraps: RFC 5322's 78
// characters, which every mail reader shows without wrapping it again.
const TextWidth = 78

// tidyText trims trailing spaces and runs of blank lines that html2text
// leaves, and wraps long lines at TextWidth, so the text part reads
// cleanly.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, wrap(l, TextWidth)...)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

// wrap breaks a line at spaces so that no piece is longer than width
// characters, except a single word longer than that (a URL), which
// stays whole on its own line: a broken URL no longer opens.
func wrap(line string, width int) []string {
	if utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	var out []string
	cur, n := "", 0
	for _, w := range strings.Fields(line) {
		wn := utf8.RuneCountInString(w)
		switch {
		case n == 0:
			cur, n = w, wn
		case n+1+wn <= width:
			cur, n = cur+" "+w, n+1+wn
		default:
			out = append(out, cur)
			cur, n = w, wn
		}
	}
	return append(out, cur)
}
