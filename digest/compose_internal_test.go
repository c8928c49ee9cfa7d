package digest

import (
	"testing"

	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// TestTemplateDataCarriesBrandAndStoryExtras checks what the theme gets:
// the brand's name, link and accent in the dictionary (and the name and
// link in hermes.Product), a lead story's image and byline in its row,
// and no empty image or byline key for a story without them.
func TestTemplateDataCarriesBrandAndStoryExtras(t *testing.T) {
	c := Composer{Brand: templates.Brand{Name: "Springfield Shopper", Link: "https://shopper.example.com/", Accent: "#0b5394"}}
	sel := Selection{
		List: subscribers.List{Name: "daily", Title: "The Daily"},
		Date: "2026-11-28",
		Blocks: []Block{{Section: stories.Section{Name: "world"}, Stories: []stories.Story{
			{ID: 1, Section: "World", Title: "With picture", URL: "https://example.com/1", Image: "https://cdn.example.com/1.jpg", Byline: "Ada Lovelace"},
			{ID: 2, Section: "World", Title: "Plain", URL: "https://example.com/2"},
		}}},
	}
	email := c.email(sel, "subject", "pre")
	meta := map[string]string{}
	for _, e := range email.Body.Dictionary {
		meta[e.Key] = e.Value
	}
	for k, want := range map[string]string{metaBrandName: "Springfield Shopper", metaBrandLink: "https://shopper.example.com/", templates.MetaAccent: "#0b5394"} {
		if meta[k] != want {
			t.Errorf("dictionary %s = %q, want %q", k, meta[k], want)
		}
	}
	if p := c.hermes(sel).Product; p.Name != "Springfield Shopper" || p.Link != "https://shopper.example.com/" {
		t.Errorf("hermes.Product = %+v", p)
	}
	rows := map[string]map[string]string{}
	for _, r := range email.Body.Table.Data {
		m := map[string]string{}
		for _, e := range r {
			m[e.Key] = e.Value
		}
		rows[m[templates.ColTitle]] = m
	}
	if r := rows["With picture"]; r[templates.ColImage] != "https://cdn.example.com/1.jpg" || r[colByline] != "Ada Lovelace" {
		t.Errorf("row with picture = %v", r)
	}
	if _, ok := rows["Plain"][templates.ColImage]; ok {
		t.Errorf("row without picture has an image key: %v", rows["Plain"])
	}
}
