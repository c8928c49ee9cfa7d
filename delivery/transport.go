package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/internal/oneline"
)

// Transport hands finished messages on. key names the message uniquely
// within a run (the outbox uses it as the file name).
type Transport interface {
	Send(ctx context.Context, key string, m *mail.Msg) error
	Close() error
	// String says where messages go, without secrets.
	String() string
}

// ErrConnect reports that the SMTP server could not be reached or
// refused the session (TLS or login): nothing can be sent until it is
// fixed, so a run stops instead of failing every recipient.
var ErrConnect = errors.New("cannot open an SMTP session")

// ErrSessionRefused marks the connect errors that retrying will not mend:
// the server refused TLS or the login. Errors that match it match
// ErrConnect too.
var ErrSessionRefused = errors.New("smtp session refused")

// connectError is a failed session, explained in one line without
// secrets.
type connectError struct {
	msg     string
	refused bool
}

func (e *connectError) Error() string { return e.msg }

func (e *connectError) Is(target error) bool {
	return target == ErrConnect || (e.refused && target == ErrSessionRefused)
}

// SMTP sends through go-mail. As a Transport it uses one connection,
// opened on first use, reused for every message and reopened when it
// drops; the delivery engine opens one such connection per worker.
type SMTP struct {
	cfg  SMTPConfig
	opts []mail.Option
	mu   sync.Mutex
	sess *smtpSession
}

// NewSMTP prepares a client for cfg; it does not connect yet.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	opts := cfg.clientOptions()
	if cfg.InsecureSkipVerify {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: cfg.Host}))
	}
	s := &SMTP{cfg: cfg, opts: opts}
	sess, err := s.newSession()
	if err != nil {
		return nil, err
	}
	s.sess = sess
	return s, nil
}

// newSession makes another go-mail client for the same server.
func (s *SMTP) newSession() (*smtpSession, error) {
	c, err := mail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %s", s.cfg, s.cfg.redact(err.Error()))
	}
	return &smtpSession{cfg: s.cfg, client: c}, nil
}

func (s *SMTP) String() string { return s.cfg.String() }

// Connect opens the session now, so configuration problems surface before
// the first recipient.
func (s *SMTP) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess.connect(ctx)
}

// connectError explains a failed session in one line, without the
// password: go-mail's errors do not carry it, the URL is shown redacted,
// and any server text is scrubbed of it anyway.
func (c SMTPConfig) connectError(err error) error {
	msg := c.redact(oneLine(err.Error()))
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case strings.Contains(msg, "does not support STARTTLS"):
		// Not a certificate problem: there was no TLS to begin with.
		return &connectError{refused: true, msg: fmt.Sprintf("%s: %s does not offer STARTTLS and the SMTP URL requires TLS: use the relay's implicit TLS port (smtps://host:465) if it has one, or ?tls=opportunistic or ?tls=none only on a network you trust", ErrConnect, c)}
	case strings.Contains(msg, "SMTP AUTH") || strings.Contains(msg, "AUTH"):
		return &connectError{refused: true, msg: fmt.Sprintf("%s: %s refused the login (%s): check the user and password in the SMTP URL", ErrConnect, c, msg)}
	case strings.Contains(msg, "STARTTLS") || strings.Contains(msg, "tls") || strings.Contains(msg, "x509") || strings.Contains(msg, "certificate"):
		return &connectError{refused: true, msg: fmt.Sprintf("%s: TLS with %s failed (%s): fix the server's certificate or the URL's tls= setting (?tls=none only for a local test server)", ErrConnect, c, msg)}
	case errors.As(err, &opErr) || errors.As(err, &netErr):
		return &connectError{msg: fmt.Sprintf("%s: %s cannot be reached (%s): check the host and port in --smtp or DIGEST_SMTP_URL", ErrConnect, c, msg)}
	default:
		return &connectError{msg: fmt.Sprintf("%s: %s: %s", ErrConnect, c, msg)}
	}
}

// oneLine folds a server reply onto one line (internal/oneline).
func oneLine(s string) string { return oneline.String(s) }

// Send delivers m on the open session, opening it first if needed.
func (s *SMTP) Send(ctx context.Context, key string, m *mail.Msg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess.deliver(ctx, key, goMailMsg{m}, nil)
}

// Close ends the session with QUIT.
func (s *SMTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess.close()
}

// ReplyOf extracts the SMTP reply code and text from a send error; code 0
// means there was no reply (a network error).
func ReplyOf(err error) (int, string) {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Code, de.Reply
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode(), err.Error()
	}
	return 0, err.Error()
}

// IsTemporary reports whether a send error may succeed later: 4xx
// replies and network errors. 5xx replies are permanent.
func IsTemporary(err error) bool {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Temporary
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 {
			return false
		} else if code >= 400 {
			return true
		}
		return se.IsTemp() || se.ErrorCode() == 0
	}
	return true
}

// Outbox writes each message as an .eml file into a folder, for a
// machine without an SMTP relay and for the demo.
type Outbox struct {
	Dir string
}

func (o Outbox) String() string { return "outbox " + o.Dir }

// Send writes the message to DIR/KEY.eml through a temporary file and a
// rename, so a file in the outbox is always complete.
func (o Outbox) Send(_ context.Context, key string, m *mail.Msg) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	f, err := os.CreateTemp(o.Dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if _, err := m.WriteTo(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("outbox: write %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	return os.Rename(f.Name(), filepath.Join(o.Dir, key+".eml"))
}

// Close implements Transport.
func (Outbox) Close() error { return nil }
