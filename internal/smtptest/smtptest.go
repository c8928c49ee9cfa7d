// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// on 127.0.0.1:0 for tests, records what it accepts, and can inject the
// faults real relays produce: rejected recipients, temporary failures,
// dropped connections, slow replies and refused logins.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// ErrDrop, returned by a hook, closes the client's connection at once
// without a reply, as a crashing relay or a broken network would.
var ErrDrop = errors.New("drop connection")

// Server is a running test SMTP server.
type Server struct {
	Addr string
	Port int

	// Username and Password, when set, make AUTH PLAIN required.
	Username, Password string
	// RcptHook may reject a recipient (return an *smtp.SMTPError) or drop
	// the connection (ErrDrop).
	RcptHook func(to string) error
	// DataHook runs after the message body was read and before the reply:
	// returning an error rejects the message, ErrDrop drops the connection.
	DataHook func(m Message) error
	// Delay is added before each reply to DATA.
	Delay time.Duration

	srv      *smtp.Server
	mu       sync.Mutex
	messages []Message
	sessions int
}

// Start runs a server until the test ends. configure, when non-nil, sets
// hooks before the first connection.
func Start(tb testing.TB, configure func(*Server)) *Server {
	tb.Helper()
	s := &Server{}
	if configure != nil {
		configure(s)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{srv: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln)
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

// URL is the server's SMTP URL for digest (plain text, local).
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// Messages returns a copy of what the server accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// PerRecipient counts accepted messages per recipient address.
func (s *Server) PerRecipient() map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		for _, to := range m.To {
			out[strings.ToLower(to)]++
		}
	}
	return out
}

// Sessions counts the connections the server accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	authed bool
	msg    Message
}

func (x *session) AuthMechanisms() []string {
	if x.srv.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.srv.Username || pass != x.srv.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.srv.Username != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.msg = Message{From: from}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := x.srv.RcptHook; h != nil {
		if err := h(to); err != nil {
			return x.fail(err)
		}
	}
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	x.msg.Data = buf.Bytes()
	if x.srv.Delay > 0 {
		time.Sleep(x.srv.Delay)
	}
	if h := x.srv.DataHook; h != nil {
		if err := h(x.msg); err != nil {
			return x.fail(err)
		}
	}
	x.srv.mu.Lock()
	x.srv.messages = append(x.srv.messages, x.msg)
	x.srv.mu.Unlock()
	return nil
}

func (x *session) fail(err error) error {
	if errors.Is(err, ErrDrop) {
		x.conn.Conn().Close()
	}
	return err
}

func (x *session) Reset()        { x.msg = Message{} }
func (x *session) Logout() error { return nil }
