// Package delivery turns a stored edition into one message per subscriber
// and hands the messages to a transport (SMTP through go-mail, or an
// .eml outbox), recording every delivery in the SQLite ledger.
package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/subscribers"
)

// Envelope is what one message needs beside the edition.
type Envelope struct {
	List    subscribers.List
	Sub     subscribers.Subscriber
	BaseURL string
	// SubjectPrefix goes before the subject, e.g. "[TEST]".
	SubjectPrefix string
	Now           time.Time
	// Template is the edition cut at its placeholders; a sender makes it
	// once per run (BuildMessage makes one when it is nil).
	Template *digest.Template
	// BounceAddress is the global bounce_address; the list's own wins.
	// With one, List-Unsubscribe's mailto is unsubscribe+TOKEN@ its
	// domain, which digest bounces process|fetch reads.
	BounceAddress string
}

// bounceAddress is where the message's bounces and mailto unsubscribes
// go: the list's bounce address, else the global one, else none.
func (env Envelope) bounceAddress() string {
	if env.List.BounceAddress != "" {
		return env.List.BounceAddress
	}
	return env.BounceAddress
}

// BuildMessage makes the subscriber's message from the stored edition:
// the edition's HTML and text with the personal fields filled in, as
// multipart/alternative (text first, HTML last, as RFC 2046 orders them
// from plainest to richest), with the headers bulk senders need.
// Header values from data pass through go-mail's encoder after CR, LF and
// other control characters are removed, so no field can add a header.
func BuildMessage(ed digest.Edition, env Envelope) (*mail.Msg, error) {
	from, err := netmail.ParseAddress(env.List.From)
	if err != nil {
		return nil, fmt.Errorf("list %s has an invalid sender %q: fix it with digest lists update --from", env.List.Name, env.List.From)
	}
	domain := domainOf(from.Address)
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	m.FromMailAddress(&netmail.Address{Name: subscribers.CleanName(from.Name), Address: from.Address})
	// To and Subject carry data of any length: they are folded and
	// encoded here (header.go). The recipient goes in as Bcc for the
	// envelope, which go-mail never writes as a header.
	m.SetGenHeaderPreformatted(mail.Header(mail.HeaderTo), addressField(string(mail.HeaderTo), subscribers.CleanName(env.Sub.Name), env.Sub.Email))
	m.BccMailAddress(&netmail.Address{Address: env.Sub.Email})
	subject := headerSafe(ed.Subject)
	if env.SubjectPrefix != "" {
		subject = headerSafe(env.SubjectPrefix) + " " + subject
	}
	m.SetGenHeaderPreformatted(mail.HeaderSubject, textField(string(mail.HeaderSubject), subject))
	now := env.Now
	if now.IsZero() {
		now = time.Now()
	}
	m.SetDateWithValue(now)
	m.SetMessageIDWithValue(fmt.Sprintf("digest.%d.%d.%s@%s", ed.ID, env.Sub.ID, randomHex(8), domain))
	m.SetGenHeaderPreformatted(headerListID, fold(len(headerListID)+2, strings.Fields(ListID(env.List, domain))))
	unsub := digest.UnsubscribeURL(env.BaseURL, env.Sub.Token, env.List.Name)
	mailto := "mailto:" + from.Address + "?subject=" + "unsubscribe%20" + url.QueryEscape(env.Sub.Token)
	if b := env.bounceAddress(); b != "" {
		mailto = bounces.UnsubscribeMailto(b, env.Sub.Token, env.List.Name)
	}
	if strings.HasPrefix(unsub, "https://") {
		// RFC 8058 one-click: an https URI and List-Unsubscribe-Post.
		if err := m.SetListUnsubscribeOneClick(unsub, mailto); err != nil {
			return nil, fmt.Errorf("unsubscribe link: %w", err)
		}
	} else {
		m.SetListUnsubscribe(unsub, mailto)
	}
	m.SetBulk()
	m.SetGenHeader(mail.HeaderXMailer, "digest")
	// The bodies are written straight into the SMTP stream (or the
	// file) when the message is sent: no per-recipient copy of the
	// edition is ever held in memory.
	t := env.Template
	if t == nil {
		t = ed.Template()
	}
	r := digest.RecipientFor(env.Sub, env.List.Name, env.BaseURL)
	m.SetBodyWriter(mail.TypeTextPlain, func(w io.Writer) (int64, error) { return t.WriteText(w, r) })
	m.AddAlternativeWriter(mail.TypeTextHTML, func(w io.Writer) (int64, error) { return t.WriteHTML(w, r) })
	return m, nil
}

// ListID is the List-Id header value (RFC 2919): the list's title as a
// phrase when it is plain ASCII, and <name.sender-domain>.
func ListID(l subscribers.List, domain string) string {
	id := "<" + listLabel(l.Name) + "." + domain + ">"
	title := headerSafe(l.DisplayTitle())
	for _, r := range title {
		if r > 126 || r == '"' || r == '\\' {
			return id
		}
	}
	if title == "" || !fits(strings.Fields(title), len(headerListID)+3) {
		// The title is optional: one that cannot be folded is left out.
		return id
	}
	return `"` + title + `" ` + id
}

// listLabel keeps the characters a List-Id label may hold.
func listLabel(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "list"
	}
	return b.String()
}

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return strings.ToLower(addr[at+1:])
	}
	return "localhost"
}

// headerSafe removes everything that could end or fold a header line.
func headerSafe(s string) string { return oneline.String(s) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// headerListID is RFC 2919's List-Id, which go-mail has no constant for.
const headerListID mail.Header = "List-Id"
