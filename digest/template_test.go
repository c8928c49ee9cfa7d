package digest_test

import (
	"strings"
	"testing"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/templates"
)

func TestTemplateWritesWhatPersonalizeReturns(t *testing.T) {
	ed := digest.Edition{
		HTML: "<p>" + templates.PlaceholderGreeting + "</p><a href=\"" + templates.PlaceholderUnsubscribeURL + "\">x</a>" + templates.PlaceholderGreeting,
		Text: templates.PlaceholderGreeting + "\nUnsubscribe: " + templates.PlaceholderUnsubscribeURL + "\n",
	}
	r := digest.Recipient{Name: `Ada "<b>" & Co`, UnsubscribeURL: "https://news.example.com/u/t?list=a&b"}
	tmpl := ed.Template()
	var h, tx strings.Builder
	if _, err := tmpl.WriteHTML(&h, r); err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.WriteText(&tx, r); err != nil {
		t.Fatal(err)
	}
	html, text := ed.Personalize(r)
	if h.String() != html || tx.String() != text {
		t.Fatalf("streamed and returned copies differ:\n%s\n%s", h.String(), html)
	}
	if strings.Contains(html, "<b>") || !strings.Contains(html, "&lt;b&gt;") || !strings.Contains(html, "list=a&amp;b") {
		t.Errorf("HTML fields not escaped: %s", html)
	}
	if strings.Count(html, "Hi Ada") != 2 || !strings.Contains(text, `Hi Ada "<b>" & Co`) || strings.Contains(html+text, "[[digest:") {
		t.Errorf("placeholders not all filled:\n%s\n%s", html, text)
	}
}
