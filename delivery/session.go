package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// DeliveryError is the outcome of a message the server did not accept:
// the reply code (0 when the connection failed before a reply), the SMTP
// step that got it and the server's text.
type DeliveryError struct {
	Code int
	// Stage is the SMTP step: "connect", "MAIL FROM", "RCPT TO", "DATA"
	// or "end of data".
	Stage string
	// Reply is the server's reply or the network error, on one line and
	// without credentials.
	Reply string
	// Temporary is true for 4xx replies and network errors, which may
	// succeed later; 5xx replies are permanent.
	Temporary bool
	// ConnLost tells that the connection cannot carry another message:
	// a network error or a 421 reply, after which the server closes it.
	ConnLost bool
	// Unknown tells that the whole message, its final "." included, was
	// sent but no reply came (a timeout or a dropped connection): the
	// relay may have accepted it, so it must not be sent again unasked.
	Unknown bool
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("%s: %s", e.Stage, e.Reply)
}

// RecipientRefused reports a permanent refusal of the recipient's
// address itself, the only failure that counts towards marking the
// subscriber bounced: a 5xx to RCPT TO whose enhanced status code (RFC
// 3463), when there is one, is about the address or the mailbox (5.1.x,
// 5.2.x). A 5xx to MAIL FROM or to the content, or a policy refusal like
// 5.7.1 "relay access denied", says nothing about the address.
func (e *DeliveryError) RecipientRefused() bool {
	if e.Temporary || e.Stage != stageRcpt {
		return false
	}
	_, text, _ := strings.Cut(e.Reply, " ")
	if len(text) >= 4 && text[0] == '5' && text[1] == '.' && text[3] == '.' {
		return text[2] == '1' || text[2] == '2'
	}
	return true
}

const (
	stageConnect = "connect"
	stageMail    = "MAIL FROM"
	stageRcpt    = "RCPT TO"
	stageData    = "DATA"
	stageEnd     = "end of data"
)

// maxReply bounds the reply text kept in the ledger and in logs.
const maxReply = 300

// classify turns an error of go-mail's SMTP client into a DeliveryError.
func classify(err error, stage string, redact func(string) string) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &DeliveryError{
			Code: tp.Code, Stage: stage, Reply: cleanReply(fmt.Sprintf("%d %s", tp.Code, tp.Msg), redact),
			Temporary: tp.Code < 500, ConnLost: tp.Code == 421,
		}
	}
	return &DeliveryError{Stage: stage, Reply: cleanReply(err.Error(), redact), Temporary: true, ConnLost: true}
}

// cleanReply makes server text fit for one ledger field and one log line.
func cleanReply(s string, redact func(string) string) string {
	if redact != nil {
		s = redact(s)
	}
	s = oneLine(s)
	if len(s) > maxReply {
		s = s[:maxReply] + "..."
	}
	return s
}

// session is one worker's way of handing messages on: its own SMTP
// connection, or the shared outbox.
type session interface {
	// deliver transmits m. Right before the step at which the server
	// accepts the message (the end of DATA) it calls barrier, which
	// blocks until the ledger has recorded the previous message of this
	// session: so at any instant at most one message per connection can
	// be accepted by the server and not yet recorded as sent. When
	// barrier fails the message is abandoned unaccepted.
	deliver(ctx context.Context, key string, m outgoing, barrier func() error) error
	close() error
}

// smtpSession is one go-mail client and its connection, reused for many
// messages and reopened when it drops.
type smtpSession struct {
	cfg    SMTPConfig
	client *mail.Client
	conn   *gosmtp.Client
	used   bool // the connection carried a transaction already
}

func (s *smtpSession) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.cfg.connectError(err)
	}
	if s.cfg.Username != "" {
		if err := s.cfg.login(c); err != nil {
			c.Close()
			return err
		}
	}
	s.conn, s.used = c, false
	return nil
}

func (s *smtpSession) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *smtpSession) deliver(ctx context.Context, _ string, m outgoing, barrier func() error) error {
	for try := 0; ; try++ {
		if err := s.connect(ctx); err != nil {
			if errors.Is(err, ErrSessionRefused) {
				return err
			}
			return &DeliveryError{Stage: stageConnect, Reply: cleanReply(err.Error(), s.cfg.redact), Temporary: true, ConnLost: true}
		}
		reused := s.used
		s.used = true
		err := s.transact(m, barrier)
		var de *DeliveryError
		if errors.As(err, &de) && de.ConnLost {
			s.drop()
			// A reused connection that fails at its first command was
			// most likely closed by the server while idle: nothing was
			// sent, so try once more on a fresh one.
			if reused && de.Stage == stageMail && de.Code == 0 && try == 0 {
				continue
			}
		}
		return err
	}
}

// transact runs one mail transaction: MAIL, RCPT, DATA, the content, and
// the end of data once barrier allows it. It does not send NOOP before
// nor RSET after a successful transaction (RFC 5321 needs neither), which
// saves two round trips per message.
func (s *smtpSession) transact(m outgoing, barrier func() error) error {
	c := s.conn
	from, rcpts, err := m.envelope()
	if err != nil {
		return &DeliveryError{Stage: stageMail, Reply: "message has no sender or recipient: " + err.Error()}
	}
	if err := c.UpdateDeadline(s.cfg.Timeout); err != nil {
		return classify(err, stageMail, s.cfg.redact)
	}
	if err := c.Mail(from); err != nil {
		return s.abort(classify(err, stageMail, s.cfg.redact))
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return s.abort(classify(err, stageRcpt, s.cfg.redact))
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.abort(classify(err, stageData, s.cfg.redact))
	}
	if err := writeBody(c, w, m); err != nil {
		// Part of the body went out; the end of data must never follow.
		return &DeliveryError{Stage: stageData, Reply: cleanReply(err.Error(), s.cfg.redact), Temporary: true, ConnLost: true}
	}
	if barrier != nil {
		if err := barrier(); err != nil {
			s.drop() // never send the end of data
			return err
		}
	}
	return s.endData(c, w)
}

// writeBody writes the message into the data stream. A wire message
// goes dot-stuffed straight into the connection's buffer, all but its
// final CRLF, which goes through go-mail's data writer: that leaves the
// writer at the start of a line, so its end of data is just ".", and
// textproto's per-byte dot-stuffing is skipped for the rest. Any other
// message is written through the data writer.
func writeBody(c *gosmtp.Client, w io.Writer, m outgoing) error {
	wm, ok := m.(*wireMsg)
	if !ok || c.Text == nil {
		_, err := m.WriteTo(w)
		return err
	}
	if _, err := wm.writeStuffed(c.Text.W); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n")
	return err
}

// endData sends the final "." and waits for the relay's verdict, up to
// FinalTimeout. go-mail's DataCloser.Close ignores whether the "." could
// be written, so the two steps are taken apart here: a failed write means
// the relay never saw the end of the message and cannot have accepted it
// (a retry is safe); a reply that never comes after the "." left means
// the outcome is unknown.
func (s *smtpSession) endData(c *gosmtp.Client, w io.WriteCloser) error {
	if err := c.UpdateDeadline(s.cfg.finalTimeout()); err != nil {
		return &DeliveryError{Stage: stageData, Reply: cleanReply(err.Error(), s.cfg.redact), Temporary: true, ConnLost: true}
	}
	dc, ok := w.(*gosmtp.DataCloser)
	if !ok { // not go-mail's writer: no way to tell the steps apart
		if err := w.Close(); err != nil {
			return s.unknown(classify(err, stageEnd, s.cfg.redact))
		}
		return nil
	}
	if err := dc.WriteCloser.Close(); err != nil {
		return &DeliveryError{Stage: stageData, Reply: cleanReply("the end of data could not be sent: "+err.Error(), s.cfg.redact), Temporary: true, ConnLost: true}
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return s.unknown(classify(err, stageEnd, s.cfg.redact))
	}
	return nil
}

// unknown marks an end-of-data failure without a reply as an unknown
// outcome; a reply, even 4xx, says the message was not taken.
func (s *smtpSession) unknown(de *DeliveryError) *DeliveryError {
	if de.Code == 0 {
		de.Unknown = true
		de.Reply = cleanReply(fmt.Sprintf("no reply to the end of data within %s, the relay may have accepted the message (%s)", s.cfg.finalTimeout(), de.Reply), nil)
	}
	return de
}

// abort resets the transaction after a reply that refused it, keeping the
// connection for the next message when it is still good.
func (s *smtpSession) abort(de *DeliveryError) error {
	if !de.ConnLost {
		if err := s.conn.Reset(); err != nil {
			de.ConnLost = true
		}
	}
	return de
}

// close ends the session politely with QUIT.
func (s *smtpSession) close() error {
	if s.conn == nil {
		return nil
	}
	c := s.conn
	s.conn = nil
	c.UpdateDeadline(5 * time.Second)
	if err := c.Quit(); err != nil {
		c.Close()
	}
	return nil
}

// goMail is the go-mail message other transports take; the engine only
// builds wire messages for SMTP sessions.
func goMail(out outgoing) (*mail.Msg, error) {
	g, ok := out.(goMailMsg)
	if !ok {
		return nil, errors.New("internal: a wire message reached a transport that takes go-mail messages")
	}
	return g.Msg, nil
}

// outboxSession writes files; workers share one outbox.
type outboxSession struct{ ob Outbox }

func (o outboxSession) deliver(ctx context.Context, key string, out outgoing, barrier func() error) error {
	m, err := goMail(out)
	if err != nil {
		return err
	}
	if barrier != nil {
		if err := barrier(); err != nil {
			return err
		}
	}
	if err := o.ob.Send(ctx, key, m); err != nil {
		return &DeliveryError{Stage: stageData, Reply: err.Error(), Temporary: true}
	}
	return nil
}

func (outboxSession) close() error { return nil }

// sharedSession adapts any other Transport; workers take turns.
type sharedSession struct {
	mu *sync.Mutex
	t  Transport
}

func (s sharedSession) deliver(ctx context.Context, key string, out outgoing, barrier func() error) error {
	m, err := goMail(out)
	if err != nil {
		return err
	}
	if barrier != nil {
		if err := barrier(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.t.Send(ctx, key, m)
	if err == nil || errors.Is(err, ErrConnect) {
		return err
	}
	code, reply := ReplyOf(err)
	return &DeliveryError{Code: code, Stage: stageData, Reply: cleanReply(reply, nil), Temporary: IsTemporary(err)}
}

func (sharedSession) close() error { return nil }
