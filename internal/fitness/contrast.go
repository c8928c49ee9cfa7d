package fitness

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"

	"github.com/newsroom/digest/templates"
)

// Text is one run of text in a rendered message with the colours a
// reader sees it in.
type Text struct {
	Snippet string
	FG, BG  string
	// SizePx is the font size; Bold whether it is bold.
	SizePx float64
	Bold   bool
	Ratio  float64
	// Min is what WCAG 2.1 AA asks of it: 4.5, or 3 for large text (24
	// px, or 18.66 px bold).
	Min float64
}

// OK reports whether the text meets its minimum contrast.
func (t Text) OK() bool { return t.Ratio >= t.Min }

func (t Text) String() string {
	return fmt.Sprintf("%q: %s on %s at %.0f px%s: %.2f:1 (needs %.1f:1)", t.Snippet, t.FG, t.BG, t.SizePx,
		map[bool]string{true: " bold", false: ""}[t.Bold], t.Ratio, t.Min)
}

// style is what a run of text inherits.
type style struct {
	fg, bg string
	size   float64
	bold   bool
	// classes of the ancestors, for the dark rules' descendant selectors.
	classes []string
}

// Contrast lists every run of visible text in doc (what is in <body>,
// including the hidden preheader, which some clients show) with its
// colour and the background behind it, worked out from the inline
// styles and bgcolor attributes. With dark set, the rules of the
// message's @media (prefers-color-scheme: dark) block apply on top, as
// in Apple Mail or Outlook's apps in dark mode. It understands the
// forms the theme uses: #rgb and #rrggbb colours, px sizes, and rules
// whose selectors are ".class" or ".class element".
func Contrast(doc string, dark bool) ([]Text, error) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	var rules []darkRule
	if dark {
		rules = darkRules(textOf(root, "style"))
	}
	var out []Text
	var walk func(n *html.Node, st style) error
	walk = func(n *html.Node, st style) error {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "head", "style", "script", "title":
				return nil
			}
			st = st.child(n, rules)
		}
		if n.Type == html.TextNode && strings.TrimSpace(strings.Trim(n.Data, "\u034f\u200c\u00a0")) != "" {
			t, err := measure(n.Data, st)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := walk(c, st); err != nil {
				return err
			}
		}
		return nil
	}
	// A browser's defaults: black text on white at 16 px.
	err = walk(root, style{fg: "#000000", bg: "#ffffff", size: 16})
	return out, err
}

func (st style) child(n *html.Node, rules []darkRule) style {
	decl := declarations(attr(n, "style"))
	switch n.Data {
	case "a":
		// Unstyled links are the browser's blue.
		st.fg = "#0000ee"
	case "h1":
		st.size, st.bold = 32, true
	case "h2":
		st.size, st.bold = 24, true
	case "h3":
		st.size, st.bold = 18.72, true
	case "strong", "b", "th":
		st.bold = true
	}
	if v := attr(n, "bgcolor"); v != "" {
		st.bg = v
	}
	if v, ok := decl["background-color"]; ok {
		st.bg = v
	}
	if v, ok := decl["color"]; ok {
		st.fg = v
	}
	if v, ok := decl["font-size"]; ok {
		if px, err := strconv.ParseFloat(strings.TrimSuffix(v, "px"), 64); err == nil {
			st.size = px
		}
	}
	own := strings.Fields(attr(n, "class"))
	for _, r := range rules {
		if r.matches(n.Data, own, st.classes) {
			for k, v := range r.decl {
				switch k {
				case "color":
					st.fg = v
				case "background-color":
					st.bg = v
				}
			}
		}
	}
	st.classes = append(append([]string(nil), st.classes...), own...)
	return st
}

func measure(text string, st style) (Text, error) {
	t := Text{Snippet: snippet(text), FG: st.fg, BG: st.bg, SizePx: st.size, Bold: st.bold}
	r, err := ContrastRatio(st.fg, st.bg)
	if err != nil {
		return t, fmt.Errorf("text %q: %w", t.Snippet, err)
	}
	t.Ratio = r
	t.Min = 4.5
	if st.size >= 24 || st.bold && st.size >= 18.66 {
		t.Min = 3
	}
	return t, nil
}

func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return s
}

// ContrastRatio is WCAG 2.1's contrast ratio of two #rgb or #rrggbb
// colours, as the theme's own accent check computes it; the !important
// of the dark block's rules is ignored.
func ContrastRatio(a, b string) (float64, error) {
	return templates.ContrastRatio(strings.TrimSuffix(strings.TrimSpace(a), "!important"), strings.TrimSuffix(strings.TrimSpace(b), "!important"))
}

func declarations(s string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(d, ":")
		if ok {
			out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node, element string) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == element {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				b.WriteString(c.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// darkRule is one selector of the dark-mode block: an element with
// class (".c"), or an element of a type inside it (".c a").
type darkRule struct {
	class, element string
	decl           map[string]string
}

func (r darkRule) matches(element string, own, ancestors []string) bool {
	has := func(list []string) bool {
		for _, c := range list {
			if c == r.class {
				return true
			}
		}
		return false
	}
	if r.element == "" {
		return has(own)
	}
	return element == r.element && has(ancestors)
}

var darkBlock = regexp.MustCompile(`(?s)@media[^{]*prefers-color-scheme:\s*dark[^{]*\{(.*)\}`)

// darkRules reads the rules inside @media (prefers-color-scheme: dark).
func darkRules(css string) []darkRule {
	m := darkBlock.FindStringSubmatch(css)
	if m == nil {
		return nil
	}
	var out []darkRule
	for _, rule := range strings.Split(m[1], "}") {
		sels, body, ok := strings.Cut(rule, "{")
		if !ok {
			continue
		}
		decl := declarations(body)
		for _, sel := range strings.Split(sels, ",") {
			parts := strings.Fields(sel)
			if len(parts) == 0 || !strings.HasPrefix(parts[0], ".") {
				continue
			}
			r := darkRule{class: parts[0][1:], decl: decl}
			if len(parts) > 1 {
				r.element = parts[1]
			}
			out = append(out, r)
		}
	}
	return out
}
