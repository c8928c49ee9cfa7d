// Package fitness measures how well a delivered digest renders in real
// mail clients with the tool the ecosystem uses: it renders fixed
// editions through the real composer and delivery path, hands them to a
// Mailpit started for the purpose on loopback ports chosen at run time,
// and reads Mailpit's HTML check (caniemail's per-client data). It also
// holds the checks Mailpit does not make: the contrast of every text
// colour on its background, computed from the rendered HTML.
//
// The measurement command is `go run ./internal/fitness/cmd/fitness`;
// the test that holds the theme to its targets is TestMailpitFitness.
package fitness

import (
	"fmt"
	"strings"
	"time"

	"github.com/matcornic/hermes/v2"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// BaseURL is where the fixture editions' links point.
const BaseURL = "https://news.example.com"

// Case is one fixed edition measured.
type Case struct {
	// Name says which edition: default, rtl, images.
	Name string
	Sel  digest.Selection
}

// Cases are the editions the targets apply to: a typical day, the same
// day for a right-to-left list, and a day whose lead stories have
// pictures.
func Cases() []Case {
	return []Case{
		{Name: "default", Sel: Typical()},
		{Name: "rtl", Sel: RTL()},
		{Name: "images", Sel: WithImages(Typical())},
	}
}

var published = time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC)

func story(id int64, section, title, teaser string) stories.Story {
	return stories.Story{ID: id, Section: section, Title: title, Teaser: teaser,
		URL: fmt.Sprintf("%s/stories/%d?utm_source=digest&utm_medium=email", BaseURL, id), PublishedAt: published}
}

// Typical is a typical day, as on the front page the digest comes from:
// three sections, teasers or not, and a few more headlines.
func Typical() digest.Selection {
	return digest.Selection{
		List: subscribers.List{ID: 1, Name: "daily", Title: "The Daily Digest", From: "The Daily Digest <news@example.com>",
			PostalAddress: "1 Newsroom Street, Springfield", Language: "en", Direction: "ltr"},
		Date: "2026-11-28",
		Blocks: []digest.Block{
			{Section: stories.Section{Name: "Americas"}, Stories: []stories.Story{
				story(1, "Americas", "Putin not ready to recognise Biden as US president", "'We will work with anyone who has the confidence of the American people,' Putin said on Russian state TV."),
				story(2, "Americas", "Biden to announce first Cabinet picks", "Scaled-down versions of the existing traditions are planned for the inauguration in January."),
			}},
			{Section: stories.Section{Name: "Economy"}, Stories: []stories.Story{
				story(3, "Economy", "Global markets rally on vaccine hopes", ""),
			}},
			{Section: stories.Section{Name: "Transport"}, Stories: []stories.Story{
				story(4, "Transport", "Dubai Metro's new route opens to passengers", "The 15 km extension links seven stations ahead of the Expo."),
			}},
		},
		More: []stories.Story{
			story(5, "Technology", "Top selling smartphones of the year revealed", ""),
			story(6, "News", "Winter festival dates announced", ""),
			story(7, "Coronavirus Pandemic", "Vaccination centres extend opening hours", ""),
		},
	}
}

// RTL is the typical day for an Arabic list, right to left.
func RTL() digest.Selection {
	return digest.Selection{
		List: subscribers.List{ID: 2, Name: "arabic", Title: "النشرة اليومية", From: "News <news@example.com>",
			PostalAddress: "1 شارع الصحافة، دبي", Language: "ar", Direction: "rtl"},
		Date: "2026-11-28",
		Blocks: []digest.Block{
			{Section: stories.Section{Name: "العالم"}, Stories: []stories.Story{
				story(11, "العالم", "بوتين غير مستعد للاعتراف ببايدن رئيسا", "قال بوتين إننا سنعمل مع أي شخص يحظى بثقة الشعب الأمريكي."),
				story(12, "العالم", "بايدن يعلن أولى تعيينات حكومته", "من المقرر إقامة نسخ مصغرة من التقاليد المعتادة."),
			}},
			{Section: stories.Section{Name: "الاقتصاد"}, Stories: []stories.Story{
				story(13, "الاقتصاد", "الأسواق العالمية ترتفع على آمال اللقاح", ""),
			}},
			{Section: stories.Section{Name: "النقل"}, Stories: []stories.Story{
				story(14, "النقل", "افتتاح الخط الجديد لمترو دبي", "يربط الامتداد البالغ 15 كيلومترا سبع محطات."),
			}},
		},
		More: []stories.Story{
			story(15, "التكنولوجيا", "الكشف عن أكثر الهواتف مبيعا هذا العام", ""),
			story(16, "أخبار", "الإعلان عن مواعيد مهرجان الشتاء", ""),
		},
	}
}

// WithImages gives every lead story of sel a picture (a JPEG on the
// newsroom's image host) and a byline, as a CMS export carries them.
func WithImages(sel digest.Selection) digest.Selection {
	sel.Images = map[int64]digest.Image{}
	blocks := make([]digest.Block, len(sel.Blocks))
	for bi, b := range sel.Blocks {
		// Copies, so that the caller's selection keeps its stories.
		b.Stories = append([]stories.Story(nil), b.Stories...)
		for si, st := range b.Stories {
			sel.Images[st.ID] = digest.Image{URL: fmt.Sprintf("%s/images/%d/lead-1200x675.jpg", BaseURL, st.ID)}
			b.Stories[si].Byline = "Ada Lovelace and Charles Babbage"
		}
		blocks[bi] = b
	}
	sel.Blocks = blocks
	return sel
}

// Largest is the largest edition the defaults allow, with pictures:
// twelve sections (the seed front page has five) of
// stories.DefaultMaxStories stories each, every headline and teaser at
// its longest, and digest.DefaultMoreHeadlines more headlines.
func Largest() digest.Selection {
	sel := Typical()
	sel.List.Title = strings.Repeat("The Daily Digest of Springfield ", 7)[:200]
	long := func(n int) string {
		return strings.TrimSpace(strings.Repeat("Leaders pledge to spare no effort on a fair supply of vaccines ", 4)[:n])
	}
	sel.Blocks = nil
	id := int64(100)
	for s := 0; s < 12; s++ {
		name := fmt.Sprintf("Section number %d of the newsroom", s+1)
		b := digest.Block{Section: stories.Section{Name: name}}
		for i := 0; i < stories.DefaultMaxStories; i++ {
			id++
			b.Stories = append(b.Stories, story(id, name, long(200), long(digest.TeaserLength+40)))
		}
		sel.Blocks = append(sel.Blocks, b)
	}
	sel.More = nil
	for i := 0; i < digest.DefaultMoreHeadlines; i++ {
		id++
		sel.More = append(sel.More, story(id, "Section number 1 of the newsroom", long(200), ""))
	}
	return WithImages(sel)
}

// Brand is the fixtures' brand: a name and link, as a newsroom sets
// them, so that the masthead and footer links are measured; the default
// accent.
var Brand = templates.Brand{Name: "Springfield News", Link: BaseURL + "/", Accent: templates.DefaultBrand.Accent}

// Composer is the composer the fixtures are rendered with: Brand, links
// under BaseURL.
func Composer() digest.Composer {
	return digest.Composer{BaseURL: BaseURL, Brand: Brand}
}

// Reader is the fixture recipient.
func Reader() subscribers.Subscriber {
	return subscribers.Subscriber{ID: 1, Email: "ada@example.com", Name: "Ada", Token: "fixture-token"}
}

// Render composes sel with digest's theme and personalises it for
// Reader, as delivery would send it.
func Render(sel digest.Selection) (digest.Edition, error) {
	ed, err := Composer().Compose(sel)
	if err != nil {
		return ed, err
	}
	ed.ID = 1
	return ed, nil
}

// Personal is ed's HTML and text as Reader gets them.
func Personal(ed digest.Edition, list subscribers.List) (html, text string) {
	return ed.Personalize(digest.RecipientFor(Reader(), list.Name, BaseURL))
}

// HermesDefault renders the same edition as a newsroom would with
// hermes' default theme: greeting, a table of the stories, a READ MORE
// button per section story and the unsubscribe line. It is the
// comparison the README quotes.
func HermesDefault(sel digest.Selection) (digest.Edition, error) {
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
	h := hermes.Hermes{Theme: new(hermes.Default), Product: hermes.Product{Name: sel.List.DisplayTitle(), Link: BaseURL}}
	if sel.List.Direction == "rtl" {
		h.TextDirection = hermes.TDRightToLeft
	}
	email := hermes.Email{Body: hermes.Body{
		Name:    Reader().Name,
		Intros:  []string{"Here are today's top stories."},
		Table:   hermes.Table{Data: rows},
		Actions: actions,
		Outros:  []string{"Unsubscribe: " + digest.UnsubscribeURL(BaseURL, Reader().Token, sel.List.Name)},
	}}
	ed := digest.Edition{ID: 1, List: sel.List.Name, Date: sel.Date, Subject: digest.Subject(sel)}
	var err error
	if ed.HTML, err = h.GenerateHTML(email); err != nil {
		return ed, err
	}
	if ed.Text, err = h.GeneratePlainText(email); err != nil {
		return ed, err
	}
	return ed, nil
}
