package digest_test

import (
	"strings"
	"testing"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/templates"
)

// Each way of writing a recipient's copy (streamed to a writer, or
// returned by Personalize) gives exactly the expected text: placeholders
// filled, HTML fields escaped, the text part as typed, line breaks in a
// name folded. Expected outputs are literals, not a second call to the
// code under test.
func TestTemplateWritesWhatPersonalizeReturns(t *testing.T) {
	const g, u = templates.PlaceholderGreeting, templates.PlaceholderUnsubscribeURL
	ed := digest.Edition{
		HTML: "<p>" + g + "</p><a href=\"" + u + "\">x</a>" + g + u,
		Text: g + "\nUnsubscribe: " + u + "\n",
	}
	tests := []struct {
		name     string
		r        digest.Recipient
		wantHTML string
		wantText string
	}{
		{"specials in the name and the link",
			digest.Recipient{Name: `Ada "<b>" & Co`, UnsubscribeURL: "https://news.example.com/u/t?list=a&b"},
			`<p>Hi Ada &#34;&lt;b&gt;&#34; &amp; Co, here are today&#39;s top stories.</p>` +
				`<a href="https://news.example.com/u/t?list=a&amp;b">x</a>` +
				`Hi Ada &#34;&lt;b&gt;&#34; &amp; Co, here are today&#39;s top stories.https://news.example.com/u/t?list=a&amp;b`,
			"Hi Ada \"<b>\" & Co, here are today's top stories.\nUnsubscribe: https://news.example.com/u/t?list=a&b\n"},
		{"no name",
			digest.Recipient{UnsubscribeURL: "https://news.example.com/u/t2"},
			`<p>Here are today&#39;s top stories.</p><a href="https://news.example.com/u/t2">x</a>Here are today&#39;s top stories.https://news.example.com/u/t2`,
			"Here are today's top stories.\nUnsubscribe: https://news.example.com/u/t2\n"},
		{"a line break in the name is folded",
			digest.Recipient{Name: "Eve\r\nBcc: victim@example.net", UnsubscribeURL: "https://news.example.com/u/t3"},
			`<p>Hi Eve Bcc: victim@example.net, here are today&#39;s top stories.</p><a href="https://news.example.com/u/t3">x</a>Hi Eve Bcc: victim@example.net, here are today&#39;s top stories.https://news.example.com/u/t3`,
			"Hi Eve Bcc: victim@example.net, here are today's top stories.\nUnsubscribe: https://news.example.com/u/t3\n"},
	}
	tmpl := ed.Template()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h, tx strings.Builder
			nh, err := tmpl.WriteHTML(&h, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			nt, err := tmpl.WriteText(&tx, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			html, text := ed.Personalize(tt.r)
			for _, c := range []struct{ what, got, want string }{
				{"WriteHTML", h.String(), tt.wantHTML},
				{"WriteText", tx.String(), tt.wantText},
				{"Personalize HTML", html, tt.wantHTML},
				{"Personalize text", text, tt.wantText},
			} {
				if c.got != c.want {
					t.Errorf("%s:\n got %q\nwant %q", c.what, c.got, c.want)
				}
			}
			if nh != int64(len(tt.wantHTML)) || nt != int64(len(tt.wantText)) {
				t.Errorf("byte counts %d and %d, want %d and %d", nh, nt, len(tt.wantHTML), len(tt.wantText))
			}
		})
	}
}

// An edition without placeholders is written unchanged.
func TestTemplateWithoutPlaceholders(t *testing.T) {
	ed := digest.Edition{HTML: "<p>Plain &amp; simple</p>", Text: "Plain & simple\n"}
	html, text := ed.Personalize(digest.Recipient{Name: "Ada", UnsubscribeURL: "https://x.example/u/t"})
	if html != "<p>Plain &amp; simple</p>" || text != "Plain & simple\n" {
		t.Fatalf("got %q and %q", html, text)
	}
}
