package delivery

import (
	"context"
	"fmt"
	"html"
	netmail "net/mail"
	"sync"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/subscribers"
)

// Confirmations sends sign-up confirmation mails through a transport,
// signed like the digests (web.ConfirmationSender). Each message is
// written from the list's settings and the link only: nothing the person
// typed (not even their name) gets into it, so the form cannot be used to
// mail arbitrary text to strangers.
type Confirmations struct {
	// Transport opens a transport for one message (an SMTP session, or
	// the outbox), closed after it.
	Transport func() (Transport, error)
	DKIM      *DKIM
	Now       func() time.Time
	// TTL is how long the link works, said in the message.
	TTL time.Duration

	mu sync.Mutex // one confirmation on the wire at a time
}

// SendConfirmation mails the confirmation link to the address.
func (c *Confirmations) SendConfirmation(ctx context.Context, list subscribers.List, to, link string) error {
	m, err := ConfirmationMessage(list, to, link, c.TTL, c.now())
	if err != nil {
		return err
	}
	if c.DKIM != nil {
		from, _ := netmail.ParseAddress(list.From)
		m.SetDKIM(c.DKIM.Signer(domainOf(from.Address)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.Transport()
	if err != nil {
		return err
	}
	defer t.Close()
	return t.Send(ctx, "confirm-"+fileSafe(list.Name)+"-"+randomHex(8), m)
}

func (c *Confirmations) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ConfirmationMessage builds the confirmation mail: From the list's
// sender, to the bare address, with the link in both parts.
func ConfirmationMessage(list subscribers.List, to, link string, ttl time.Duration, now time.Time) (*mail.Msg, error) {
	from, err := netmail.ParseAddress(list.From)
	if err != nil {
		return nil, fmt.Errorf("list %s has an invalid sender %q: fix it with digest lists update --from", list.Name, list.From)
	}
	if ttl <= 0 {
		ttl = subscribers.DefaultConfirm
	}
	domain := domainOf(from.Address)
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	m.FromMailAddress(&netmail.Address{Name: headerSafe(from.Name), Address: from.Address})
	if err := m.To(headerSafe(to)); err != nil {
		return nil, fmt.Errorf("confirmation to %q: %w", to, err)
	}
	title := headerSafe(list.DisplayTitle())
	m.Subject("Confirm your subscription to " + title)
	m.SetDateWithValue(now)
	m.SetMessageIDWithValue(fmt.Sprintf("confirm.%s@%s", randomHex(12), domain))
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader(mail.HeaderXMailer, "digest")
	days := int(ttl.Hours()+23) / 24
	text := fmt.Sprintf("Someone, probably you, asked to subscribe this address to %s.\n\n"+
		"To confirm, open this link and press the button on the page:\n%s\n\n"+
		"The link works for %d days. If you did not ask for this, ignore this email: "+
		"you will not be subscribed and will hear nothing more from us.\n", title, link, days)
	body := fmt.Sprintf(`<!doctype html><html><body style="font-family:Arial,sans-serif;font-size:16px;color:#222">`+
		`<p>Someone, probably you, asked to subscribe this address to %s.</p>`+
		`<p><a href="%s" style="color:#b3261e">Confirm your subscription</a></p>`+
		`<p>The link works for %d days. If you did not ask for this, ignore this email: you will not be subscribed and will hear nothing more from us.</p>`+
		`</body></html>`, html.EscapeString(title), html.EscapeString(link), days)
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, body)
	return m, nil
}
