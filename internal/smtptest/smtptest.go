// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// on 127.0.0.1:0 for tests, records what it accepts, and can inject the
// faults real relays produce: rejected recipients, temporary failures,
// dropped connections, slow replies and refused logins. It also speaks
// STARTTLS and implicit TLS with a certificate made for the test, and the
// AUTH mechanisms PLAIN, LOGIN and CRAM-MD5.
package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	// TLS tells whether the message came over an encrypted connection.
	TLS bool
}

// ErrDrop, returned by a hook, closes the client's connection at once
// without a reply, as a crashing relay or a broken network would.
var ErrDrop = errors.New("drop connection")

// AUTH mechanism names offered by the server.
const (
	AuthPlain   = sasl.Plain
	AuthLogin   = "LOGIN"
	AuthCramMD5 = "CRAM-MD5"
)

// Faults are the failures the server injects, drawn from a seeded random
// source so that a failing test can be replayed.
type Faults struct {
	// Seed makes the draws repeatable (0 is a valid seed).
	Seed int64
	// Share421 of MAIL commands are answered "421 service not available"
	// and the connection is closed, as a relay shedding load does.
	Share421 float64
	// Share451 of messages are answered "451 try again later" after
	// their body was read.
	Share451 float64
	// ShareDrop of messages lose their connection half-way through DATA,
	// before the server accepted them.
	ShareDrop float64
	// Reject550 names recipients (lower case) refused at RCPT with
	// "550 5.1.1 no such user", every time.
	Reject550 map[string]bool
	// Slow is added before the reply to every MAIL, RCPT and DATA.
	Slow time.Duration
}

// Server is a running test SMTP server.
type Server struct {
	Addr string
	Port int

	// Username and Password, when set, make AUTH required.
	Username, Password string
	// Mechanisms are the AUTH mechanisms offered (default PLAIN).
	Mechanisms []string
	// TLS, when set, offers STARTTLS with this configuration (see
	// SelfSignedTLS); with Implicit the listener speaks TLS from the
	// first byte (SMTPS).
	TLS      *tls.Config
	Implicit bool
	// FailAuth makes every login fail with 535, whatever the password:
	// set it mid-test to simulate revoked credentials.
	FailAuth atomic.Bool
	// Faults are injected on every session.
	Faults Faults
	// Discard makes a sink for benchmarks: no faults, no hooks, only
	// counts are kept.
	Discard bool
	// TotalsOnly, with Discard, keeps no per-recipient counts either:
	// a million-recipient run would otherwise hold a map of every
	// address in the process being measured.
	TotalsOnly bool
	// MailHook may refuse a sender (return an *smtp.SMTPError).
	//
	// The hooks and Delay are read by the server's session goroutines:
	// set them in Start's configure function, or later only through
	// SetMailHook, SetRcptHook, SetDataHook and SetDelay, which hold the
	// server's lock (a plain assignment mid-test is a data race).
	MailHook func(from string) error
	// RcptHook may reject a recipient (return an *smtp.SMTPError) or drop
	// the connection (ErrDrop).
	RcptHook func(to string) error
	// DataHook runs after the message body was read and before the reply:
	// returning an error rejects the message, ErrDrop drops the connection.
	DataHook func(m Message) error
	// Delay is added before each reply to DATA.
	Delay time.Duration
	// LineLimit, when set, refuses a message that has a line longer than
	// that many characters (CRLF excluded) with "554 5.6.0 too long a
	// line", as relays enforcing RFC 5322's 998 do.
	LineLimit int

	srv      *smtp.Server
	mu       sync.Mutex
	rnd      *rand.Rand
	messages []Message
	counts   map[string]int
	accepted int
	bytes    int64
	sessions int
	auths    map[string]int
	replies  map[int]int
}

// Start runs a server until the test ends. configure, when non-nil, sets
// hooks before the first connection.
func Start(tb testing.TB, configure func(*Server)) *Server {
	tb.Helper()
	s := &Server{counts: map[string]int{}, auths: map[string]int{}, replies: map[int]int{}}
	if configure != nil {
		configure(s)
	}
	s.rnd = rand.New(rand.NewSource(s.Faults.Seed))
	if len(s.Mechanisms) == 0 {
		s.Mechanisms = []string{AuthPlain}
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
	if s.TLS != nil {
		if s.Implicit {
			ln = tls.NewListener(ln, s.TLS)
		} else {
			s.srv.TLSConfig = s.TLS
		}
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln)
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

// SetMailHook replaces MailHook while sessions may be running.
func (s *Server) SetMailHook(h func(from string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.MailHook = h
}

// SetRcptHook replaces RcptHook while sessions may be running.
func (s *Server) SetRcptHook(h func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.RcptHook = h
}

// SetDataHook replaces DataHook while sessions may be running.
func (s *Server) SetDataHook(h func(m Message) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.DataHook = h
}

// SetDelay replaces Delay while sessions may be running.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Delay = d
}

// hooks reads the hooks and the delay under the lock, so that a test may
// change them between (or during) sessions.
func (s *Server) hooks() (mail func(string) error, rcpt func(string) error, data func(Message) error, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MailHook, s.RcptHook, s.DataHook, s.Delay
}

// URL is the server's SMTP URL for digest (plain text, local).
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// Close stops the server and drops every connection, as a crashed relay.
func (s *Server) Close() { s.srv.Close() }

// Messages returns a copy of what the server accepted so far (empty with
// Discard).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Accepted counts the messages the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Bytes is the size of all accepted messages together.
func (s *Server) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// PerRecipient counts accepted messages per recipient address.
func (s *Server) PerRecipient() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Sessions counts the connections the server accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Logins counts successful logins per mechanism.
func (s *Server) Logins() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.auths {
		out[k] = v
	}
	return out
}

// Injected counts the fault replies sent, by code (421, 451, 550; 0 for
// dropped connections).
func (s *Server) Injected() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.replies {
		out[k] = v
	}
	return out
}

// draw reports whether a fault with probability p happens now.
func (s *Server) draw(p float64, code int) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rnd.Float64() < p {
		s.replies[code]++
		return true
	}
	return false
}

func (s *Server) count(code int) {
	s.mu.Lock()
	s.replies[code]++
	s.mu.Unlock()
}

type session struct {
	srv     *Server
	conn    *smtp.Conn
	authed  bool
	closing bool
	msg     Message
}

func (x *session) AuthMechanisms() []string {
	if x.srv.Username == "" {
		return nil
	}
	return x.srv.Mechanisms
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	// check accepts the login when the user is right and proof holds for
	// the server's password.
	check := func(user string, proof func(password string) bool) error {
		if x.srv.FailAuth.Load() || user != x.srv.Username || !proof(x.srv.Password) {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		x.authed = true
		x.srv.mu.Lock()
		x.srv.auths[mech]++
		x.srv.mu.Unlock()
		return nil
	}
	plain := func(user, pass string) error {
		return check(user, func(p string) bool { return p == pass })
	}
	switch mech {
	case AuthPlain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return plain(user, pass) }), nil
	case AuthLogin:
		return &loginServer{check: plain}, nil
	case AuthCramMD5:
		return &cramServer{check: check}, nil
	}
	return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "mechanism not supported"}
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// only implements for clients.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if len(resp) > 0 { // initial response carries the user name
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		l.step = 1
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// cramServer is the server side of CRAM-MD5 (RFC 2195): the client proves
// it knows the password by an HMAC of a fresh challenge.
type cramServer struct {
	challenge string
	check     func(user string, proof func(password string) bool) error
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@localhost>", time.Now().UnixNano(), rand.Int63())
		return []byte(c.challenge), false, nil
	}
	user, digest, _ := strings.Cut(string(resp), " ")
	return nil, true, c.check(user, func(password string) bool {
		mac := hmac.New(md5.New, []byte(password))
		mac.Write([]byte(c.challenge))
		return hmac.Equal([]byte(digest), []byte(hex.EncodeToString(mac.Sum(nil))))
	})
}

// drop closes the connection when a 421 was given earlier, as the reply
// announced.
func (x *session) drop() bool {
	if x.closing {
		x.conn.Conn().Close()
	}
	return x.closing
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.drop() {
		return ErrDrop
	}
	if x.srv.Username != "" && !x.authed {
		// RFC 4954 6: what relays answer to mail before a login.
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	x.slow()
	if h, _, _, _ := x.srv.hooks(); h != nil {
		if err := h(from); err != nil {
			return x.fail(err)
		}
	}
	if x.srv.draw(x.srv.Faults.Share421, 421) {
		x.closing = true
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service not available, closing transmission channel"}
	}
	x.msg = Message{From: from}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.drop() {
		return ErrDrop
	}
	x.slow()
	if x.srv.Faults.Reject550[strings.ToLower(to)] {
		x.srv.count(550)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	if _, h, _, _ := x.srv.hooks(); h != nil {
		if err := h(to); err != nil {
			return x.fail(err)
		}
	}
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	if x.srv.draw(x.srv.Faults.ShareDrop, 0) {
		// Read part of the body, then vanish: the message was not accepted.
		io.CopyN(io.Discard, r, 512)
		x.conn.Conn().Close()
		return ErrDrop
	}
	if x.srv.Discard {
		// A sink: count the bytes, keep nothing.
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		x.srv.mu.Lock()
		x.srv.accepted++
		x.srv.bytes += n
		for _, to := range x.msg.To {
			if !x.srv.TotalsOnly {
				x.srv.counts[strings.ToLower(to)]++
			}
		}
		x.srv.mu.Unlock()
		return nil
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	x.msg.Data = buf.Bytes()
	_, x.msg.TLS = x.conn.TLSConnectionState()
	if n := x.srv.LineLimit; n > 0 {
		for _, line := range bytes.Split(x.msg.Data, []byte("\r\n")) {
			if len(line) > n {
				x.srv.count(554)
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: fmt.Sprintf("too long a line (%d characters, at most %d)", len(line), n)}
			}
		}
	}
	x.slow()
	if _, _, _, delay := x.srv.hooks(); delay > 0 {
		time.Sleep(delay)
	}
	if x.srv.draw(x.srv.Faults.Share451, 451) {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
	}
	if _, _, h, _ := x.srv.hooks(); h != nil {
		if err := h(x.msg); err != nil {
			return x.fail(err)
		}
	}
	x.srv.mu.Lock()
	x.srv.accepted++
	x.srv.bytes += int64(len(x.msg.Data))
	for _, to := range x.msg.To {
		x.srv.counts[strings.ToLower(to)]++
	}
	x.srv.messages = append(x.srv.messages, x.msg)
	x.srv.mu.Unlock()
	return nil
}

func (x *session) slow() {
	if d := x.srv.Faults.Slow; d > 0 {
		time.Sleep(d)
	}
}

func (x *session) fail(err error) error {
	if errors.Is(err, ErrDrop) {
		x.conn.Conn().Close()
	}
	return err
}

func (x *session) Reset() {
	x.drop()
	x.msg = Message{}
}

func (x *session) Logout() error { return nil }
