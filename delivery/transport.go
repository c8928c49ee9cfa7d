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

// SMTP sends through one go-mail client whose connection is opened on
// first use and reused for every message; a dropped connection is
// reopened on the next message.
type SMTP struct {
	cfg       SMTPConfig
	client    *mail.Client
	mu        sync.Mutex
	connected bool
}

// NewSMTP prepares a client for cfg; it does not connect yet.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	opts := cfg.clientOptions()
	if cfg.InsecureSkipVerify {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: cfg.Host}))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", cfg, err)
	}
	return &SMTP{cfg: cfg, client: c}, nil
}

func (s *SMTP) String() string { return s.cfg.String() }

// Connect opens the session now, so configuration problems surface before
// the first recipient.
func (s *SMTP) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect(ctx)
}

func (s *SMTP) connect(ctx context.Context) error {
	if s.connected {
		return nil
	}
	if err := s.client.DialWithContext(ctx); err != nil {
		return s.connectError(err)
	}
	s.connected = true
	return nil
}

// connectError explains a failed session in one line, without the
// password (go-mail's errors never carry it; the URL is redacted).
func (s *SMTP) connectError(err error) error {
	msg := err.Error()
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case strings.Contains(msg, "SMTP AUTH failed") || strings.Contains(msg, "AUTH"):
		return fmt.Errorf("%w: %s refused the login (%s): check the user and password in the SMTP URL", ErrConnect, s.cfg, msg)
	case strings.Contains(msg, "STARTTLS") || strings.Contains(msg, "tls"):
		return fmt.Errorf("%w: TLS with %s failed (%s): add ?tls=none only for a local test server", ErrConnect, s.cfg, msg)
	case errors.As(err, &opErr) || errors.As(err, &netErr):
		return fmt.Errorf("%w: %s cannot be reached (%s): check the host and port in --smtp or DIGEST_SMTP_URL", ErrConnect, s.cfg, msg)
	default:
		return fmt.Errorf("%w: %s: %s", ErrConnect, s.cfg, msg)
	}
}

// Send delivers m on the open session, opening it first if needed.
func (s *SMTP) Send(ctx context.Context, _ string, m *mail.Msg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return err
	}
	err := s.client.Send(m)
	if err != nil && !isReply(err) {
		// The connection is in an unknown state: drop it and reopen
		// for the next message.
		s.client.Close()
		s.connected = false
	}
	return err
}

// Close ends the session with QUIT.
func (s *SMTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return nil
	}
	s.connected = false
	return s.client.Close()
}

// isReply reports whether err carries an SMTP reply code from the server
// (the session is still usable) rather than a broken connection.
func isReply(err error) bool {
	code, _ := ReplyOf(err)
	return code >= 400
}

// ReplyOf extracts the SMTP reply code and text from a send error; code 0
// means there was no reply (a network error).
func ReplyOf(err error) (int, string) {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode(), err.Error()
	}
	return 0, err.Error()
}

// IsTemporary reports whether a send error may succeed later: 4xx
// replies and network errors. 5xx replies are permanent.
func IsTemporary(err error) bool {
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
