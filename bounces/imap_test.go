package bounces

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// startIMAP runs an in-memory IMAP server on 127.0.0.1:0 with one user.
func startIMAP(t *testing.T) string {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("bounces", "s3cret pass")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func imapClient(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("bounces", "s3cret pass").Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func appendMsg(t *testing.T, c *imapclient.Client, msg string) {
	t.Helper()
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// bounces fetch against a real IMAP server: the bounce is applied and
// flagged processed, a message that is no report is flagged skipped and
// left unread, and a second round takes nothing again.
func TestFetchFromIMAP(t *testing.T) {
	f := newFixture(t)
	addr := startIMAP(t)
	c := imapClient(t, addr)
	raw, _ := os.ReadFile("testdata/postfix-hard.eml")
	bounce := strings.ReplaceAll(string(raw), "bounce+0-0000000000000000@bounces.example.com", VERP("bounce@bounces.example.com", f.p.Key, f.ref))
	appendMsg(t, c, strings.ReplaceAll(bounce, "\n", "\r\n"))
	reply, _ := os.ReadFile("testdata/reply.eml")
	appendMsg(t, c, strings.ReplaceAll(string(reply), "\n", "\r\n"))

	mb, err := ParseMailbox("imap://bounces:s3cret%20pass@" + addr + "/INBOX?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mb.String(), "s3cret") {
		t.Errorf("the mailbox shows its password: %s", mb)
	}
	res, err := f.p.Fetch(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	if res.Processed != 1 || res.Skipped != 1 {
		t.Fatalf("round 1: %+v", res)
	}
	if f.status(t) != "bounced" {
		t.Errorf("membership %s after the fetched hard bounce", f.status(t))
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	has := func(flags []imap.Flag, f imap.Flag) bool {
		for _, x := range flags {
			if strings.EqualFold(string(x), string(f)) { // keywords are case-insensitive
				return true
			}
		}
		return false
	}
	if !has(msgs[0].Flags, imap.FlagSeen) || !has(msgs[0].Flags, FlagProcessed) {
		t.Errorf("the bounce's flags: %v", msgs[0].Flags)
	}
	if has(msgs[1].Flags, imap.FlagSeen) || !has(msgs[1].Flags, FlagSkipped) {
		t.Errorf("the reply's flags: %v (want unread, skipped)", msgs[1].Flags)
	}
	res, err = f.p.Fetch(context.Background(), mb)
	if err != nil || res.Processed+res.Skipped != 0 {
		t.Errorf("round 2 took messages again: %+v, %v", res, err)
	}
	if f.events(t) != 1 {
		t.Errorf("%d events, want 1", f.events(t))
	}
}
