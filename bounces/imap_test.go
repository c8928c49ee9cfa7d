package bounces

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/newsroom/digest/internal/imaptest"
)

// bounces fetch against a real IMAP server: the bounce is applied and
// flagged processed, a message that is no report is flagged skipped and
// left unread, and a second round takes nothing again.
func TestFetchFromIMAP(t *testing.T) {
	f := newFixture(t)
	srv := imaptest.Start(t)
	raw, _ := os.ReadFile("testdata/postfix-hard.eml")
	srv.Append(t, "INBOX", strings.ReplaceAll(string(raw), "bounce+0-0000000000000000@bounces.example.com", VERP("bounce@bounces.example.com", f.p.Key, f.ref)))
	reply, _ := os.ReadFile("testdata/reply.eml")
	srv.Append(t, "INBOX", string(reply))

	mb, err := ParseMailbox(srv.URL("INBOX", ""))
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
	flags := srv.Flags(t, "INBOX")
	if !imaptest.Has(flags[0], imap.FlagSeen) || !imaptest.Has(flags[0], FlagProcessed) {
		t.Errorf("the bounce's flags: %v", flags[0])
	}
	if imaptest.Has(flags[1], imap.FlagSeen) || !imaptest.Has(flags[1], FlagSkipped) {
		t.Errorf("the reply's flags: %v (want unread, skipped)", flags[1])
	}
	res, err = f.p.Fetch(context.Background(), mb)
	if err != nil || res.Processed+res.Skipped != 0 {
		t.Errorf("round 2 took messages again: %+v, %v", res, err)
	}
	if f.events(t) != 1 {
		t.Errorf("%d events, want 1", f.events(t))
	}
}

// With ?processed=Folder a processed message moves there; a message that
// is no report stays in the mailbox.
func TestFetchMovesProcessedMessages(t *testing.T) {
	f := newFixture(t)
	srv := imaptest.Start(t)
	raw, _ := os.ReadFile("testdata/arf-yahoo.eml")
	srv.Append(t, "INBOX", strings.ReplaceAll(string(raw), "bounce+0-0000000000000000@bounces.example.com", VERP("bounce@bounces.example.com", f.p.Key, f.ref)))
	reply, _ := os.ReadFile("testdata/autoreply.eml")
	srv.Append(t, "INBOX", string(reply))
	mb, err := ParseMailbox(srv.URL("INBOX", "Processed"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.p.Fetch(context.Background(), mb)
	if err != nil || res.Processed != 1 || res.Skipped != 1 {
		t.Fatalf("fetch: %+v, %v", res, err)
	}
	if f.status(t) != "unsubscribed" {
		t.Errorf("membership %s after the fetched complaint", f.status(t))
	}
	inbox, moved := srv.Flags(t, "INBOX"), srv.Flags(t, "Processed")
	if len(inbox) != 1 || !imaptest.Has(inbox[0], FlagSkipped) || imaptest.Has(inbox[0], imap.FlagSeen) {
		t.Errorf("INBOX holds %v, want the auto-reply alone, unread and skipped", inbox)
	}
	if len(moved) != 1 || !imaptest.Has(moved[0], FlagProcessed) {
		t.Errorf("Processed holds %v, want the complaint, flagged processed", moved)
	}
}
