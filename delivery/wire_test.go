package delivery

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/clicks"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// decoded is what a mail client reads from a message: its headers and
// its parts after transfer decoding.
type decoded struct {
	header netmail.Header
	parts  map[string]string // by content type
}

func decode(t *testing.T, raw []byte) decoded {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	d := decoded{header: msg.Header, parts: map[string]string{}}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return d
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p) // NextPart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		d.parts[p.Header.Get("Content-Type")] = string(body)
	}
}

// The message written from the wire carries the same headers as
// BuildMessage's and decodes to the same parts, byte for byte, whatever
// the recipient's name and the edition's bytes (long lines, "=", trailing
// spaces, non-ASCII, a field at the start, the end and mid-line), for a
// list with a bounce address (VERP envelope sender, mailto unsubscribe
// to the bounce domain), for a reader's section variant and for an
// edition whose links are rewritten for click counting.
func TestWireMessageDecodesLikeGoMail(t *testing.T) {
	long := strings.Repeat("Wörd = 100% ", 40)
	ed := digest.Edition{ID: 7, Subject: "The Daily Digest: Ünïcode subject that is long enough to be folded somewhere in the middle",
		HTML: templates.PlaceholderGreeting + "<p>" + long + "</p>\n<a href=\"https://news.example.com/story/1\">One</a>\n<a href=\"" + templates.PlaceholderUnsubscribeURL + "\">Unsubscribe</a>  \n<p>tail " + templates.PlaceholderGreeting + "</p>",
		Text: "Intro\n" + templates.PlaceholderGreeting + "\n" + long + "\nOne: https://news.example.com/story/1\nUnsubscribe: " + templates.PlaceholderUnsubscribeURL + " \n" + strings.Repeat("x", 200)}
	// A section variant: its own subject and stories, the edition's ID.
	variant := digest.Edition{ID: 7, Subject: "The Daily Digest: Sport only",
		HTML: templates.PlaceholderGreeting + "<h2>Sport</h2><p>" + long + "</p><a href=\"" + templates.PlaceholderUnsubscribeURL + "\">Unsubscribe</a>",
		Text: templates.PlaceholderGreeting + "\nSport\n" + long + "\n" + templates.PlaceholderUnsubscribeURL}
	clicked := ed
	clicked.HTML, clicked.Text = clicks.Rewrite(ed.HTML, ed.Text, map[string]int64{"https://news.example.com/story/1": 1},
		func(story int64) string {
			return clicks.Link("https://news.example.com", []byte("click key"), ed.ID, story)
		})
	if clicked.HTML == ed.HTML || !strings.Contains(clicked.Text, "/r/7/1/") {
		t.Fatalf("the click rewrite changed nothing: %q", clicked.Text)
	}
	list := subscribers.List{ID: 1, Name: "daily", Title: "The Daily Digest", From: `"The Daily Digest" <digest@example.com>`}
	bounceList := list
	bounceList.BounceAddress = "bounces@mail.example.com"
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, base, bounce string // bounce: the global bounce address
		list               subscribers.List
		ed                 digest.Edition
		verp               string // envelope sender set, as the run sets a VERP address
	}{
		{name: "https", base: "https://news.example.com", list: list, ed: ed},
		{name: "http", base: "http://127.0.0.1:8080", list: list, ed: ed},
		{name: "list bounce address", base: "https://news.example.com", list: bounceList, ed: ed,
			verp: "bounces+d1.s2.e7.abcdef@mail.example.com"},
		{name: "global bounce address", base: "https://news.example.com", bounce: "returns@bounce.example.org", list: list, ed: ed,
			verp: "returns+d1.s2.e7.abcdef@bounce.example.org"},
		{name: "section variant", base: "https://news.example.com", list: list, ed: variant},
		{name: "click tracking", base: "https://news.example.com", list: bounceList, ed: clicked},
	} {
		tmpl := tc.ed.Template()
		w, err := newWire(tc.ed, tc.list, tc.base, tmpl, tc.bounce)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range []subscribers.Subscriber{
			{ID: 1, Email: "ada@example.com", Name: "Ada Lovelace", Token: "tok1"},
			{ID: 2, Email: "zoe@example.org", Name: "Zoë <Österreich> & \"Söhne\"", Token: "tok-2_x"},
			{ID: 3, Email: "plain@example.net", Token: "tok3"},
			{ID: 4, Email: "evil@example.net", Name: "Eve\r\nBcc: victim@example.net", Token: "tok4"},
			{ID: 5, Email: "long@example.net", Name: strings.Repeat("Very Long Name ", 12), Token: "tok5"},
		} {
			gm, err := BuildMessage(tc.ed, Envelope{List: tc.list, Sub: sub, BaseURL: tc.base, Now: now, Template: tmpl, BounceAddress: tc.bounce})
			if err != nil {
				t.Fatal(err)
			}
			wm := w.message(sub, now)
			if tc.verp != "" {
				if err := (goMailMsg{gm}).setEnvelopeFrom(tc.verp); err != nil {
					t.Fatal(err)
				}
				if err := wm.setEnvelopeFrom(tc.verp); err != nil {
					t.Fatal(err)
				}
			}
			var a, b bytes.Buffer
			if _, err := gm.WriteTo(&a); err != nil {
				t.Fatal(err)
			}
			if _, err := wm.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			want, got := decode(t, a.Bytes()), decode(t, b.Bytes())
			for name := range want.header {
				if name == "Message-Id" || name == "Content-Type" {
					continue
				}
				if g, w := got.header[name], want.header[name]; strings.Join(g, "|") != strings.Join(w, "|") {
					t.Errorf("%s %s: header %s = %q, go-mail wrote %q", tc.name, sub.Email, name, g, w)
				}
			}
			if len(got.header) != len(want.header) {
				t.Errorf("%s %s: %d headers, go-mail wrote %d", tc.name, sub.Email, len(got.header), len(want.header))
			}
			if !strings.HasPrefix(got.header.Get("Message-Id"), "<digest.7.") || got.header.Get("Message-Id") != wm.id() {
				t.Errorf("Message-Id %q, id() %q", got.header.Get("Message-Id"), wm.id())
			}
			if len(got.parts) != 2 || got.parts["text/plain; charset=UTF-8"] != want.parts["text/plain; charset=UTF-8"] ||
				got.parts["text/html; charset=UTF-8"] != want.parts["text/html; charset=UTF-8"] {
				t.Errorf("%s %s: the parts decode differently:\n%q\nwant\n%q", tc.name, sub.Email, got.parts, want.parts)
			}
			for i, line := range strings.Split(b.String(), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d long", i, len(line))
				}
			}
			wantFrom, wantTo, err := goMailMsg{gm}.envelope()
			if err != nil {
				t.Fatal(err)
			}
			// go-mail gives the addresses in angle brackets.
			wantFrom = strings.Trim(wantFrom, "<>")
			for i := range wantTo {
				wantTo[i] = strings.Trim(wantTo[i], "<>")
			}
			from, to, _ := wm.envelope()
			if from != wantFrom || len(to) != 1 || to[0] != sub.Email || strings.Join(to, ",") != strings.Join(wantTo, ",") {
				t.Errorf("%s: envelope %s -> %v, go-mail's %s -> %v", tc.name, from, to, wantFrom, wantTo)
			}
			if tc.verp != "" && from != tc.verp {
				t.Errorf("%s: envelope sender %s, want the VERP address %s", tc.name, from, tc.verp)
			}
			if tc.verp == "" && from != "digest@example.com" {
				t.Errorf("%s: envelope sender %s, want the From address", tc.name, from)
			}
			unsub := got.header.Get("List-Unsubscribe")
			if bounce := (Envelope{List: tc.list, BounceAddress: tc.bounce}).bounceAddress(); bounce != "" {
				if domain := bounce[strings.IndexByte(bounce, '@'):]; !strings.Contains(unsub, "mailto:") || !strings.Contains(unsub, domain) {
					t.Errorf("%s: List-Unsubscribe %q has no mailto to the bounce domain %s", tc.name, unsub, domain)
				}
			}
		}
	}
}

// The dot-stuffed form, once the receiver removes the stuffing, is the
// message byte for byte, lines that begin with "." included (in the
// edition, in a field value, after a soft line break).
func TestWireMessageDotStuffing(t *testing.T) {
	ed := digest.Edition{ID: 3, Subject: "Dots",
		Text: ".starts with a dot\n" + templates.PlaceholderGreeting + "\n." + strings.Repeat("y", 74) + ".and.more.dots\n.\n..\n",
		HTML: "<p>\n.dot</p>" + templates.PlaceholderGreeting + "\n.." + templates.PlaceholderUnsubscribeURL}
	list := subscribers.List{ID: 1, Name: "daily", From: "digest@example.com"}
	w, err := newWire(ed, list, "https://news.example.com", ed.Template(), "")
	if err != nil {
		t.Fatal(err)
	}
	m := w.message(subscribers.Subscriber{ID: 9, Email: "dot@example.com", Name: ".Dot", Token: "t"}, time.Now())
	var plain, stuffed bytes.Buffer
	m.WriteTo(&plain)
	m.writeStuffed(&stuffed)
	stuffed.WriteString("\r\n")
	lines := strings.Split(stuffed.String(), "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			if !strings.HasPrefix(l, "..") {
				t.Fatalf("line %d %q begins with a single dot: it would end the data", i, l)
			}
			lines[i] = l[1:]
		}
	}
	if got := strings.Join(lines, "\r\n"); got != plain.String() {
		t.Errorf("unstuffed stream differs from the message:\n%q\nwant\n%q", got, plain.String())
	}
	if !strings.Contains(stuffed.String(), "\r\n..starts with a dot") {
		t.Errorf("the edition's dot line was not stuffed:\n%s", stuffed.String())
	}
}
