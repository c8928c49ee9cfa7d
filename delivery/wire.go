package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

// outgoing is one message as a session hands it on: its envelope, its
// Message-ID and its bytes.
type outgoing interface {
	io.WriterTo
	envelope() (from string, to []string, err error)
	// setEnvelopeFrom sets the envelope sender (a VERP address) in place
	// of the From address.
	setEnvelopeFrom(addr string) error
	id() string
}

// goMailMsg is a message built with go-mail (BuildMessage): what the
// outbox, DKIM signing and other transports take.
type goMailMsg struct{ *mail.Msg }

func (g goMailMsg) envelope() (string, []string, error) {
	from, err := g.GetSender(false)
	if err != nil {
		return "", nil, err
	}
	to, err := g.GetRecipients()
	return from, to, err
}

func (g goMailMsg) id() string { return g.GetMessageID() }

func (g goMailMsg) setEnvelopeFrom(addr string) error { return g.EnvelopeFrom(addr) }

// wire is an edition made ready for the SMTP stream once per run: the
// header lines that are the same for every recipient, copied from a
// message BuildMessage made, and both MIME parts quoted-printable encoded
// once, cut at the personal fields. Each piece is encoded on its own and
// ends with a soft line break (which decoding removes), so a recipient's
// fields, encoded alone, are set between encoded literals without
// re-encoding the edition: per recipient only a few hundred bytes are
// encoded, and the message is written straight into go-mail's data
// writer. What the receiver decodes is byte for byte what BuildMessage's
// message decodes to (TestWireMessageDecodesLikeGoMail).
type wire struct {
	ed       digest.Edition
	list     subscribers.List
	baseURL  string
	from     string // the From address: the envelope sender without VERP
	bounce   string // where mailto unsubscribes go; "" for the From address
	domain   string
	common   []byte // header lines shared by every recipient
	boundary string
	text     wirePart
	html     wirePart
}

// wirePart is one encoded MIME part: lits[i] is followed by the field
// fields[i] (-1 after the last literal). stuffed holds the same literals
// dot-stuffed for the SMTP data stream (RFC 5321 4.5.2), done once here
// rather than byte by byte for every message.
type wirePart struct {
	lits    [][]byte
	stuffed [][]byte
	fields  []int
}

// perRecipientHeaders are the headers wire writes itself for each
// recipient; every other header line of the sample is shared.
var perRecipientHeaders = map[string]bool{
	"Date": true, "Message-Id": true, "To": true, "List-Unsubscribe": true, "Content-Type": true, "Mime-Version": true,
}

// newWire prepares the edition (or a variant of it, with its template)
// for the list. It builds one message with BuildMessage for a sample
// recipient and keeps its shared header lines, so both paths carry the
// same headers. bounceAddress is the global bounce address, as
// Envelope.BounceAddress.
func newWire(ed digest.Edition, list subscribers.List, baseURL string, tmpl *digest.Template, bounceAddress string) (*wire, error) {
	from, err := netmail.ParseAddress(list.From)
	if err != nil {
		return nil, fmt.Errorf("list %s has an invalid sender %q: fix it with digest lists update --from", list.Name, list.From)
	}
	env := Envelope{List: list, Sub: subscribers.Subscriber{Email: "sample@example.invalid"}, BaseURL: baseURL, Template: tmpl, BounceAddress: bounceAddress}
	sample, err := BuildMessage(ed, env)
	if err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	if _, err := sample.WriteTo(&raw); err != nil {
		return nil, err
	}
	common, err := sharedHeaderLines(raw.Bytes())
	if err != nil {
		return nil, err
	}
	w := &wire{ed: ed, list: list, baseURL: baseURL, from: from.Address, bounce: env.bounceAddress(), domain: domainOf(from.Address), common: common,
		boundary: randomHex(30)}
	w.text = encodePart(tmpl, false)
	w.html = encodePart(tmpl, true)
	return w, nil
}

// sharedHeaderLines returns the header lines of a raw message, folded
// continuations included, except the per-recipient ones.
func sharedHeaderLines(raw []byte) ([]byte, error) {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	var out bytes.Buffer
	keep := false
	for {
		line, err := r.ReadLine()
		if err != nil {
			return nil, fmt.Errorf("sample message: %w", err)
		}
		if line == "" {
			return out.Bytes(), nil
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, ok := strings.Cut(line, ":")
			if !ok {
				return nil, errors.New("sample message: a header line without a colon")
			}
			keep = !perRecipientHeaders[textproto.CanonicalMIMEHeaderKey(name)]
		}
		if keep {
			out.WriteString(line)
			out.WriteString("\r\n")
		}
	}
}

func encodePart(t *digest.Template, htmlPart bool) wirePart {
	var p wirePart
	t.EachSegment(htmlPart, func(literal string, field int) {
		lit := appendQP(nil, literal)
		p.lits = append(p.lits, lit)
		p.stuffed = append(p.stuffed, appendStuffed(nil, lit))
		p.fields = append(p.fields, field)
	})
	return p
}

// appendQP appends s quoted-printable encoded as a piece that starts and
// ends at the beginning of a line: a soft line break closes it unless it
// ends with a line break of its own.
func appendQP(dst []byte, s string) []byte {
	if s == "" {
		return dst
	}
	b := bytes.NewBuffer(dst)
	w := quotedprintable.NewWriter(b)
	io.WriteString(w, s)
	w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("=\r\n")
	}
	return b.Bytes()
}

// appendStuffed appends src dot-stuffed: a "." that begins a line is
// doubled. src must begin at the start of a line, as every piece of a
// wire message does.
func appendStuffed(dst, src []byte) []byte {
	for len(src) > 0 {
		if src[0] == '.' {
			dst = append(dst, '.')
		}
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i+1]...)
		src = src[i+1:]
	}
	return dst
}

// message is the recipient's message on the wire.
func (w *wire) message(sub subscribers.Subscriber, now time.Time) *wireMsg {
	return &wireMsg{w: w, sub: sub, now: now, from: w.from,
		msgID: fmt.Sprintf("digest.%d.%d.%s@%s", w.ed.ID, sub.ID, randomHex(8), w.domain)}
}

// wireMsg is one recipient's message from a wire.
type wireMsg struct {
	w     *wire
	sub   subscribers.Subscriber
	now   time.Time
	msgID string
	from  string // envelope sender: the From address, or a VERP address
}

func (m *wireMsg) envelope() (string, []string, error) { return m.from, []string{m.sub.Email}, nil }

// setEnvelopeFrom takes a VERP address, checked as go-mail's EnvelopeFrom
// checks it.
func (m *wireMsg) setEnvelopeFrom(addr string) error {
	a, err := netmail.ParseAddress(addr)
	if err != nil {
		return err
	}
	m.from = a.Address
	return nil
}

func (m *wireMsg) id() string { return "<" + m.msgID + ">" }

// WriteTo writes the message: the per-recipient headers, the shared
// ones, then both parts with the recipient's fields encoded in place.
func (m *wireMsg) WriteTo(dst io.Writer) (int64, error) { return m.write(dst, false) }

// writeStuffed writes the message dot-stuffed, as the SMTP data stream
// carries it, straight to the connection's buffer: the pre-stuffed
// literals as they are, the per-recipient bytes stuffed on the way. It
// leaves out the message's final CRLF, which the caller writes through
// the data writer so that go-mail's end of data follows it cleanly.
func (m *wireMsg) writeStuffed(dst io.Writer) (int64, error) {
	return m.write(dst, true)
}

func (m *wireMsg) write(dst io.Writer, stuff bool) (int64, error) {
	w := m.w
	var scratch []byte
	out := func(p []byte, prestuffed bool) (int, error) {
		if stuff && !prestuffed {
			scratch = appendStuffed(scratch[:0], p)
			p = scratch
		}
		return dst.Write(p)
	}
	unsub := digest.UnsubscribeURL(w.baseURL, m.sub.Token, w.list.Name)
	mailto := "mailto:" + w.from + "?subject=" + "unsubscribe%20" + url.QueryEscape(m.sub.Token)
	if w.bounce != "" {
		mailto = bounces.UnsubscribeMailto(w.bounce, m.sub.Token, w.list.Name)
	}
	b := make([]byte, 0, 1024)
	b = append(b, "Date: "...)
	b = m.now.AppendFormat(b, time.RFC1123Z)
	b = append(b, "\r\nMIME-Version: 1.0\r\nMessage-ID: "...)
	b = append(b, m.id()...)
	b = append(b, "\r\nTo: "...)
	b = append(b, addressField(string(mail.HeaderTo), subscribers.CleanName(m.sub.Name), m.sub.Email)...)
	b = append(b, "\r\nList-Unsubscribe: <"...)
	b = append(b, unsub...)
	b = append(b, ">, <"...)
	b = append(b, mailto...)
	b = append(b, ">\r\n"...)
	b = append(b, w.common...)
	b = append(b, "Content-Type: multipart/alternative;\r\n boundary="...)
	b = append(b, w.boundary...)
	b = append(b, "\r\n\r\n"...)
	r := digest.RecipientFor(m.sub, w.list.Name, w.baseURL)
	var total int64
	n, err := out(b, false)
	total += int64(n)
	for _, part := range []struct {
		p    *wirePart
		html bool
	}{{&w.text, false}, {&w.html, true}} {
		if err != nil {
			return total, err
		}
		head := "--" + w.boundary + "\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
		if part.html {
			head = "\r\n--" + w.boundary + "\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n"
		}
		n, err = out([]byte(head), false)
		total += int64(n)
		values := r.Values(part.html)
		lits := part.p.lits
		if stuff {
			lits = part.p.stuffed
		}
		for j, lit := range lits {
			if err != nil {
				break
			}
			n, err = out(lit, true)
			total += int64(n)
			if f := part.p.fields[j]; f >= 0 && err == nil {
				n, err = out(appendQP(b[:0], values[f]), false)
				total += int64(n)
			}
		}
	}
	if err != nil {
		return total, err
	}
	end := "\r\n--" + w.boundary + "--\r\n"
	if stuff {
		end = end[:len(end)-2]
	}
	n, err = out([]byte(end), false)
	return total + int64(n), err
}
