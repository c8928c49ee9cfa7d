package digest

import (
	"html"
	"net/url"
	"strings"

	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// Recipient holds the personal fields filled into an edition.
type Recipient struct {
	Name           string
	UnsubscribeURL string
}

// RecipientFor builds the personal fields of a subscriber of a list; the
// unsubscribe link lives under the public base URL.
func RecipientFor(sub subscribers.Subscriber, list, baseURL string) Recipient {
	return Recipient{Name: sub.Name, UnsubscribeURL: UnsubscribeURL(baseURL, sub.Token, list)}
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
// HTML gets them escaped, the text as they are. It is a string
// replacement, not a render, so it costs one pass over the edition.
func (ed Edition) Personalize(r Recipient) (htmlBody, textBody string) {
	greeting := Greeting(r.Name)
	hr := strings.NewReplacer(
		templates.PlaceholderGreeting, html.EscapeString(greeting),
		templates.PlaceholderUnsubscribeURL, html.EscapeString(r.UnsubscribeURL),
	)
	tr := strings.NewReplacer(
		templates.PlaceholderGreeting, greeting,
		templates.PlaceholderUnsubscribeURL, r.UnsubscribeURL,
	)
	return hr.Replace(ed.HTML), tr.Replace(ed.Text)
}
