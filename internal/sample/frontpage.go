package sample

import (
	"time"

	"github.com/newsroom/digest/stories"
)

// frontPageStory is a sample story from the front page digest was born from,
// published hoursAgo before the demo runs so that it falls in today's
// edition window.
type frontPageStory struct {
	section, title, teaser, slug string
	hoursAgo, score              float64
}

var frontPageStories = []frontPageStory{
	{"Americas", "Not ready to recognise Joe Biden as US president: Putin", "'We will work with anyone who has the confidence of the American people,' Putin said on Russian state TV, adding that the decision not to congratulate Biden is a formality with no ulterior motives.", "putin-biden", 2, 9},
	{"Americas", "Biden to announce first Cabinet picks on Tuesday", "'Scaled-down versions of the existing traditions' for Biden's inauguration are planned as the transition team names its first nominees.", "biden-cabinet", 5, 6},
	{"Rest of Asia", "G20 leaders pledge fair supplies of Covid vaccine", "As the pandemic rages, the nations adopted a unified tone on the need to distribute vaccines, drugs and tests fairly around the world.", "g20-vaccine", 3, 7},
	{"Coronavirus Pandemic", "Americans could get first Covid-19 shots by mid-December", "Pfizer expects to have enough doses to protect 25 million people by the end of the year, pending emergency approval from regulators.", "pfizer-shots", 4, 8},
	{"Coronavirus Pandemic", "UAE Covid-19 vaccine: Residents 'relieved' after first jab", "They called the jab a 'confidence booster'.", "uae-jab", 9, 4},
	{"Economy", "UAE's GDP to grow 3.6% in 2021: Central Bank", "Total packages worth Dh388 billion ($105.6 billion) have been rolled out to support the economy through the pandemic and into recovery.", "uae-gdp", 6, 7},
	{"Transport", "Abu Dhabi toll gates: Over 70,000 residents register for exemption", "Accounts can be created online or via the Darb app.", "abu-dhabi-tolls", 7, 5},
	{"Transport", "Exclusive: Inside centre that monitors Dubai traffic", "Intelligent Traffic System in Dubai's Al Barsha was opened by Sheikh Mohammed to watch over the emirate's roads around the clock.", "dubai-traffic", 10, 3},
	{"Government", "Sheikh Mohammed issues new Dubai law on civil aviation", "", "dubai-aviation-law", 11, 2},
	{"Technology", "Revealed: Top 3 selling smartphones in the UAE", "", "top-smartphones", 12, 2},
	{"News", "Sheikh Mohammed invites world to experience UAE's winter", "", "uae-winter", 13, 2},
	{"News", "Dh5,000 fine for insulting someone over the phone in UAE", "", "phone-fine", 14, 1},
	{"Entertainment", "Exclusive: Fauda became a bridge between Arabs, Jews", "", "fauda", 15, 1},
}

// HeadlineSections appear only under "More headlines", as the latest
// headlines do at the bottom of the front page.
var HeadlineSections = []string{"Government", "Technology", "News", "Entertainment"}

// FrontPage returns the seed front page's stories, published in the
// hours before now: what digest demo loads, and the "real edition" of the
// delivery benchmarks (about 18 KB once encoded).
func FrontPage(now time.Time) []stories.Story {
	out := make([]stories.Story, 0, len(frontPageStories))
	for _, d := range frontPageStories {
		out = append(out, stories.Story{
			Section: d.section, Title: d.title, Teaser: d.teaser, Score: d.score,
			URL:         "https://news.example.com/" + d.slug,
			PublishedAt: now.Add(-time.Duration(d.hoursAgo * float64(time.Hour))).Truncate(time.Second),
		})
	}
	return out
}
