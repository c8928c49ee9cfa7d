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
// spaces, non-ASCII, a field at the start, the end and mid-line).
func TestWireMessageDecodesLikeGoMail(t *testing.T) {
	long := strings.Repeat("Wörd = 100% ", 40)
	ed := digest.Edition{ID: 7, Subject: "The Daily Digest: Ünïcode subject that is long enough to be folded somewhere in the middle",
		HTML: templates.PlaceholderGreeting + "<p>" + long + "</p>\n<a href=\"" + templates.PlaceholderUnsubscribeURL + "\">Unsubscribe</a>  \n<p>tail " + templates.PlaceholderGreeting + "</p>",
		Text: "Intro\n" + templates.PlaceholderGreeting + "\n" + long + "\nUnsubscribe: " + templates.PlaceholderUnsubscribeURL + " \n" + strings.Repeat("x", 200)}
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	for _, base := range []string{"https://news.example.com", "http://127.0.0.1:8080"} {
		list := subscribers.List{ID: 1, Name: "daily", Title: "The Daily Digest", From: `"The Daily Digest" <digest@example.com>`}
		tmpl := ed.Template()
		w, err := newWire(ed, list, base, tmpl)
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
			gm, err := BuildMessage(ed, Envelope{List: list, Sub: sub, BaseURL: base, Now: now, Template: tmpl})
			if err != nil {
				t.Fatal(err)
			}
			var a, b bytes.Buffer
			if _, err := gm.WriteTo(&a); err != nil {
				t.Fatal(err)
			}
			wm := w.message(sub, now)
			if _, err := wm.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			want, got := decode(t, a.Bytes()), decode(t, b.Bytes())
			for name := range want.header {
				if name == "Message-Id" || name == "Content-Type" {
					continue
				}
				if g, w := got.header[name], want.header[name]; strings.Join(g, "|") != strings.Join(w, "|") {
					t.Errorf("%s %s: header %s = %q, go-mail wrote %q", base, sub.Email, name, g, w)
				}
			}
			if len(got.header) != len(want.header) {
				t.Errorf("%s %s: %d headers, go-mail wrote %d", base, sub.Email, len(got.header), len(want.header))
			}
			if !strings.HasPrefix(got.header.Get("Message-Id"), "<digest.7.") || got.header.Get("Message-Id") != wm.id() {
				t.Errorf("Message-Id %q, id() %q", got.header.Get("Message-Id"), wm.id())
			}
			if len(got.parts) != 2 || got.parts["text/plain; charset=UTF-8"] != want.parts["text/plain; charset=UTF-8"] ||
				got.parts["text/html; charset=UTF-8"] != want.parts["text/html; charset=UTF-8"] {
				t.Errorf("%s %s: the parts decode differently:\n%q\nwant\n%q", base, sub.Email, got.parts, want.parts)
			}
			for i, line := range strings.Split(b.String(), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d long", i, len(line))
				}
			}
			if from, to, _ := wm.envelope(); from != "digest@example.com" || len(to) != 1 || to[0] != sub.Email {
				t.Errorf("envelope %s -> %v", from, to)
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
	w, err := newWire(ed, list, "https://news.example.com", ed.Template())
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
