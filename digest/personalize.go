package digest

import (
	"html"
	"io"
	"net/url"
	"strings"

	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// Recipient holds the personal fields filled into an edition.
type Recipient struct {
	Name           string
	UnsubscribeURL string
	// PreferencesURL is the reader's preference page.
	PreferencesURL string
}

// RecipientFor builds the personal fields of a subscriber of a list; the
// unsubscribe link lives under the public base URL.
func RecipientFor(sub subscribers.Subscriber, list, baseURL string) Recipient {
	return Recipient{Name: sub.Name, UnsubscribeURL: UnsubscribeURL(baseURL, sub.Token, list), PreferencesURL: PreferencesURL(baseURL, sub.PrefToken)}
}

// UnsubscribeURL is the subscriber's one-click unsubscribe link for a
// list: BASE/u/TOKEN?list=NAME. The token is the subscriber's secret; the
// list says which membership the click ends (without it, all of them).
func UnsubscribeURL(baseURL, token, list string) string {
	u := strings.TrimRight(baseURL, "/") + "/u/" + url.PathEscape(token)
	if list != "" {
		u += "?list=" + url.QueryEscape(list)
	}
	return u
}

// Greeting is the line above the stories.
func Greeting(name string) string {
	if name = subscribers.CleanName(name); name != "" {
		return "Hi " + name + ", here are today's top stories."
	}
	return "Here are today's top stories."
}

// Personalize fills the recipient's fields into the stored edition: the
// HTML gets them escaped, the text as they are.
func (ed Edition) Personalize(r Recipient) (htmlBody, textBody string) {
	t := ed.Template()
	return t.HTML(r), t.Text(r)
}

// fields are the placeholders and the recipient's values for them, as
// the text part shows them; the HTML part gets them escaped.
func (r Recipient) fields() [][2]string {
	return [][2]string{
		{templates.PlaceholderGreeting, Greeting(r.Name)},
		{templates.PlaceholderUnsubscribeURL, r.UnsubscribeURL},
		{templates.PlaceholderPreferencesURL, r.PreferencesURL},
	}
}

// Template is an edition cut at its placeholders once, so that each
// recipient's copy is written straight to its destination: no replace
// pass over the whole edition and no copy of it per recipient. A sender
// makes one per edition and uses it for every recipient; it is safe for
// concurrent use.
type Template struct {
	html, text []segment
}

// segment is literal text followed by the placeholder at index field
// (-1 after the last literal).
type segment struct {
	literal string
	field   int
}

// Template cuts the edition at its placeholders.
func (ed Edition) Template() *Template {
	names := Recipient{}.fields()
	return &Template{html: cut(ed.HTML, names), text: cut(ed.Text, names)}
}

func cut(s string, names [][2]string) []segment {
	var out []segment
	for {
		at, field := -1, -1
		for i, n := range names {
			if j := strings.Index(s, n[0]); j >= 0 && (at < 0 || j < at) {
				at, field = j, i
			}
		}
		if at < 0 {
			return append(out, segment{literal: s, field: -1})
		}
		out = append(out, segment{literal: s[:at], field: field})
		s = s[at+len(names[field][0]):]
	}
}

// WriteHTML writes the recipient's HTML part to w, personal fields
// escaped.
func (t *Template) WriteHTML(w io.Writer, r Recipient) (int64, error) {
	return fill(w, t.html, r, true)
}

// WriteText writes the recipient's text part to w.
func (t *Template) WriteText(w io.Writer, r Recipient) (int64, error) {
	return fill(w, t.text, r, false)
}

// HTML returns the recipient's HTML part.
func (t *Template) HTML(r Recipient) string { return t.string(t.html, r, true) }

// Text returns the recipient's text part.
func (t *Template) Text(r Recipient) string { return t.string(t.text, r, false) }

func (t *Template) string(segs []segment, r Recipient, escape bool) string {
	var b strings.Builder
	n := 0
	for _, s := range segs {
		n += len(s.literal) + 64
	}
	b.Grow(n)
	fill(&b, segs, r, escape)
	return b.String()
}

func fill(w io.Writer, segs []segment, r Recipient, escape bool) (int64, error) {
	values := r.fields()
	var total int64
	for _, s := range segs {
		n, err := io.WriteString(w, s.literal)
		total += int64(n)
		if err != nil || s.field < 0 {
			return total, err
		}
		v := values[s.field][1]
		if escape {
			v = html.EscapeString(v)
		}
		n, err = io.WriteString(w, v)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// PreferencesURL is the reader's preference page: BASE/p/TOKEN. Empty
// without a token (a sample reader in the preview).
func PreferencesURL(baseURL, token string) string {
	if token == "" {
		return strings.TrimRight(baseURL, "/") + "/preferences"
	}
	return strings.TrimRight(baseURL, "/") + "/p/" + url.PathEscape(token)
}
