// Package imaptest runs a real IMAP server (go-imap v2's imapserver with
// its in-memory backend) on 127.0.0.1:0 for tests of the bounce mailbox,
// as smtptest does for SMTP.
package imaptest

import (
	"io"
	"log"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// User and Password log in to the server's one account.
const (
	User     = "bounces"
	Password = "s3cret pass"
)

// Server is a running IMAP server with the mailboxes INBOX and
// Processed, and a client logged in to look at them.
type Server struct {
	// Addr is host:port.
	Addr string
	// Client is logged in as User.
	Client *imapclient.Client
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(User, Password)
	for _, mb := range []string{"INBOX", "Processed"} {
		if err := user.Create(mb, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		// A client that logs out and hangs up makes the server log a
		// broken pipe: noise in a test's output.
		Logger: log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(User, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Server{Addr: ln.Addr().String(), Client: c}
}

// URL is the bounce_imap_url of the mailbox (plain IMAP: a local test
// server only), with ?processed=Folder when folder is not empty.
func (s *Server) URL(mailbox, folder string) string {
	u := "imap://" + User + ":" + strings.ReplaceAll(Password, " ", "%20") + "@" + s.Addr + "/" + mailbox + "?tls=none"
	if folder != "" {
		u += "&processed=" + folder
	}
	return u
}

// Append stores a message (LF or CRLF lines) in the mailbox.
func (s *Server) Append(t testing.TB, mailbox, msg string) {
	t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	cmd := s.Client.Append(mailbox, int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Flags are the flags of every message of the mailbox, in order.
func (s *Server) Flags(t testing.TB, mailbox string) [][]imap.Flag {
	t.Helper()
	data, err := s.Client.Select(mailbox, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages == 0 {
		return nil
	}
	msgs, err := s.Client.Fetch(imap.SeqSetNum(seq(data.NumMessages)...), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]imap.Flag, len(msgs))
	for i, m := range msgs {
		out[i] = m.Flags
	}
	return out
}

func seq(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

// Has reports whether flags hold f (keywords compare case-insensitively).
func Has(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}
