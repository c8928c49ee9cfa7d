// Package htmlcheck measures how broadly real mail clients support the
// HTML and CSS an email uses, from caniemail.com's per-client support
// data, in the manner of Mailpit's HTML check: find the features the
// message uses, look each up, and score the message by how much of it
// each client supports.
//
// The data is a vendored subset (testdata/caniemail.json, with its source
// and date) covering the features digest's theme and hermes' default
// theme use; a feature the data lacks is listed as unscored, not guessed.
package htmlcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/net/html"
)

// Data is caniemail support data: per feature, per client (family/
// platform, e.g. "gmail/android"), the support of the latest version
// tested: y, a (partial), n or u (unknown).
type Data struct {
	About    string    `json:"about"`
	Features []Feature `json:"features"`
	bySlug   map[string]Feature
}

// Feature is one caniemail feature.
type Feature struct {
	Slug    string            `json:"slug"`
	Title   string            `json:"title"`
	URL     string            `json:"url"`
	Support map[string]string `json:"support"`
}

// LoadData reads Data from JSON.
func LoadData(r io.Reader) (*Data, error) {
	var d Data
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("caniemail data: %w", err)
	}
	d.bySlug = map[string]Feature{}
	for _, f := range d.Features {
		for client, s := range f.Support {
			if s != "y" && s != "a" && s != "n" && s != "u" {
				return nil, fmt.Errorf("caniemail data: %s: %s has support %q", f.Slug, client, s)
			}
		}
		d.bySlug[f.Slug] = f
	}
	return &d, nil
}

// FeatureScore is one feature the document uses and how clients support it.
type FeatureScore struct {
	Slug  string
	Title string
	// Count is how often the document uses it.
	Count int
	// Yes, Partial and No count the clients; unknown ones are left out.
	Yes, Partial, No int
	// Support is (Yes + Partial/2) / (Yes + Partial + No), in percent.
	Support float64
}

// Report is the outcome of Check.
type Report struct {
	// Score is the mean, over every client in the data, of the share of
	// the document's features that client supports (partial counts
	// half), in percent. 100 means every client supports everything.
	Score float64
	// Clients is how many clients were scored; FullClients how many of
	// them support every feature the document uses without reservation.
	Clients, FullClients int
	// Features are the scored features, least supported first.
	Features []FeatureScore
	// Unscored are features found that the data does not cover (for
	// example color and font-family, which every client supports, or
	// vendor properties like mso-hide that clients without them ignore).
	Unscored []string
}

// Check finds the features doc uses and scores them.
func (d *Data) Check(doc string) (Report, error) {
	used, err := Detect(doc)
	if err != nil {
		return Report{}, err
	}
	var r Report
	perClient := map[string][2]float64{} // sum of support, number of features
	for slug, n := range used {
		f, ok := d.bySlug[slug]
		if !ok {
			r.Unscored = append(r.Unscored, slug)
			continue
		}
		fs := FeatureScore{Slug: slug, Title: f.Title, Count: n}
		for client, s := range f.Support {
			v := 0.0
			switch s {
			case "y":
				fs.Yes++
				v = 1
			case "a":
				fs.Partial++
				v = 0.5
			case "n":
				fs.No++
			default:
				continue
			}
			c := perClient[client]
			perClient[client] = [2]float64{c[0] + v, c[1] + 1}
		}
		if total := fs.Yes + fs.Partial + fs.No; total > 0 {
			fs.Support = 100 * (float64(fs.Yes) + float64(fs.Partial)/2) / float64(total)
		}
		r.Features = append(r.Features, fs)
	}
	for _, c := range perClient {
		r.Score += c[0] / c[1]
		if c[0] == c[1] {
			r.FullClients++
		}
	}
	r.Clients = len(perClient)
	if r.Clients > 0 {
		r.Score = 100 * r.Score / float64(r.Clients)
	}
	sort.Slice(r.Features, func(i, j int) bool {
		if r.Features[i].Support != r.Features[j].Support {
			return r.Features[i].Support < r.Features[j].Support
		}
		return r.Features[i].Slug < r.Features[j].Slug
	})
	sort.Strings(r.Unscored)
	return r, nil
}

// String prints the report as a small table.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "support score %.1f%% over %d clients; %d support every feature fully\n", r.Score, r.Clients, r.FullClients)
	for _, f := range r.Features {
		fmt.Fprintf(&b, "  %5.1f%%  %-40s used %d× (yes %d, partial %d, no %d)\n", f.Support, f.Slug, f.Count, f.Yes, f.Partial, f.No)
	}
	if len(r.Unscored) > 0 {
		fmt.Fprintf(&b, "  not in the data: %s\n", strings.Join(r.Unscored, ", "))
	}
	return b.String()
}

// htmlAttrFeatures maps attributes to their caniemail features.
var htmlAttrFeatures = map[string]string{
	"lang":        "html-lang",
	"dir":         "html-dir",
	"role":        "html-role",
	"aria-label":  "html-aria-label",
	"cellpadding": "html-cellpadding",
	"cellspacing": "html-cellspacing",
	"align":       "html-align",
	"valign":      "html-valign",
	"width":       "html-width",
	"height":      "html-height",
	"target":      "html-target",
	"srcset":      "html-srcset",
}

// cssPropertyFeatures maps properties whose caniemail feature is not
// simply "css-" + the property name.
func cssPropertyFeature(prop string) string {
	switch {
	case strings.HasPrefix(prop, "margin"):
		return "css-margin"
	case strings.HasPrefix(prop, "padding"):
		return "css-padding"
	case prop == "border-collapse", prop == "border-radius", prop == "border-spacing", prop == "border-image":
		return "css-" + prop
	case strings.HasPrefix(prop, "border"):
		return "css-border"
	case strings.HasPrefix(prop, "text-decoration"):
		return "css-text-decoration"
	}
	return "css-" + prop
}

// Detect returns the caniemail features doc uses, with how often.
func Detect(doc string) (map[string]int, error) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	used := map[string]int{}
	add := func(slug string) { used[slug]++ }
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.DoctypeNode:
			// Only the HTML5 doctype is a caniemail feature; an XHTML one
			// has a public identifier.
			if strings.EqualFold(n.Data, "html") && len(n.Attr) == 0 {
				add("html-doctype")
			}
		case html.ElementNode:
			switch n.Data {
			case "style":
				add("html-style")
				if n.FirstChild != nil {
					detectStylesheet(n.FirstChild.Data, add)
				}
			case "script":
				add("html-script")
			case "meta":
				if strings.EqualFold(attr(n, "name"), "color-scheme") {
					add("html-meta-color-scheme")
				}
			case "img":
				add("html-img")
			}
			for _, a := range n.Attr {
				if slug, ok := htmlAttrFeatures[a.Key]; ok {
					add(slug)
				}
				if a.Key == "style" {
					detectDeclarations(a.Val, add)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return used, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

var cssComment = regexp.MustCompile(`(?s)/\*.*?\*/`)

// detectStylesheet walks the rules of a <style> element: at-rules,
// selectors and declarations.
func detectStylesheet(css string, add func(string)) {
	if cssComment.MatchString(css) {
		add("css-comments")
		css = cssComment.ReplaceAllString(css, "")
	}
	for i := 0; i < len(css); {
		open := strings.IndexByte(css[i:], '{')
		if open < 0 {
			return
		}
		prelude := strings.TrimSpace(strings.Trim(css[i:i+open], "} \t\r\n"))
		depth, k := 1, i+open+1
		for ; k < len(css) && depth > 0; k++ {
			switch css[k] {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		body := css[i+open+1 : k-1]
		if strings.HasPrefix(prelude, "@") {
			detectAtRule(prelude, add)
			if strings.HasPrefix(prelude, "@media") || strings.HasPrefix(prelude, "@supports") {
				detectStylesheet(body, add)
			} else {
				detectDeclarations(body, add)
			}
		} else {
			for _, sel := range strings.Split(prelude, ",") {
				detectSelector(strings.TrimSpace(sel), add)
			}
			detectDeclarations(body, add)
		}
		i = k
	}
}

var atRuleName = regexp.MustCompile(`^@([a-z-]+)`)

func detectAtRule(prelude string, add func(string)) {
	m := atRuleName.FindStringSubmatch(strings.ToLower(prelude))
	if m == nil {
		return
	}
	add("css-at-" + m[1])
	if m[1] == "media" {
		for _, f := range []string{"prefers-color-scheme", "prefers-reduced-motion", "orientation", "hover"} {
			if strings.Contains(prelude, f) {
				add("css-at-media-" + f)
			}
		}
	}
}

var (
	pseudo       = regexp.MustCompile(`::?([a-z-]+)`)
	combinators  = regexp.MustCompile(`\s*([>+~])\s*|\s+`)
	typeSelector = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*`)
)

func detectSelector(sel string, add func(string)) {
	if sel == "" {
		return
	}
	for _, m := range pseudo.FindAllStringSubmatch(sel, -1) {
		switch m[1] {
		case "before", "after", "first-letter", "first-line", "marker", "placeholder":
			add("css-pseudo-element-" + m[1])
		default:
			add("css-pseudo-class-" + m[1])
		}
	}
	// Look at the compound selectors outside any :not(...).
	bare := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(sel, "")
	bare = pseudo.ReplaceAllString(bare, "")
	compounds := combinators.Split(strings.TrimSpace(bare), -1)
	for _, c := range combinators.FindAllStringSubmatch(strings.TrimSpace(bare), -1) {
		switch c[1] {
		case ">":
			add("css-selector-child")
		case "+":
			add("css-selector-adjacent-sibling")
		case "~":
			add("css-selector-general-sibling")
		default:
			add("css-selector-descendant")
		}
	}
	for _, c := range compounds {
		switch {
		case c == "":
			continue
		case strings.HasPrefix(c, "*"):
			add("css-selector-universal")
		case typeSelector.MatchString(c):
			add("css-selector-type")
		}
		if strings.Contains(c, ".") {
			add("css-selector-class")
		}
		if strings.Contains(c, "#") {
			add("css-selector-id")
		}
		if strings.Contains(c, "[") {
			add("css-selector-attribute")
		}
	}
}

var (
	rgbFunc  = regexp.MustCompile(`(?i)\brgba?\(`)
	varFunc  = regexp.MustCompile(`(?i)\bvar\(`)
	calcFunc = regexp.MustCompile(`(?i)\bcalc\(`)
)

// detectDeclarations reads "property: value; ..." pairs.
func detectDeclarations(block string, add func(string)) {
	for _, decl := range strings.Split(block, ";") {
		name, value, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.ToLower(strings.TrimSpace(value))
		if name == "" {
			continue
		}
		add(cssPropertyFeature(name))
		if strings.Contains(value, "!important") {
			add("css-important")
		}
		if name == "display" {
			switch strings.TrimSpace(strings.TrimSuffix(value, "!important")) {
			case "none":
				add("css-display-none")
			case "flex", "inline-flex":
				add("css-display-flex")
			case "grid", "inline-grid":
				add("css-display-grid")
			}
		}
		if rgbFunc.MatchString(value) {
			add("css-rgb")
		}
		if varFunc.MatchString(value) {
			add("css-variables")
		}
		if calcFunc.MatchString(value) {
			add("css-unit-calc")
		}
	}
}
