package main

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

// sentTo is what the relay got for one recipient in the latest send.
type sentTo struct{ from, messageID, mailto string }

func lastSends(t *testing.T, srv *smtptest.Server, from int) map[string]sentTo {
	t.Helper()
	out := map[string]sentTo{}
	for _, m := range srv.Messages()[from:] {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		lu := msg.Header.Get("List-Unsubscribe")
		mailto := regexp.MustCompile(`<mailto:([^>?]+)`).FindStringSubmatch(lu)
		if mailto == nil {
			t.Fatalf("List-Unsubscribe %q has no mailto", lu)
		}
		out[m.To[0]] = sentTo{from: m.From, messageID: msg.Header.Get("Message-Id"), mailto: mailto[1]}
	}
	return out
}

// bounceFor fills a corpus message with the delivery's VERP address and
// Message-ID.
func bounceFor(t *testing.T, file string, s sentTo) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "bounces", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.ReplaceAll(string(b), "bounce+0-0000000000000000@bounces.example.com", s.from)
	return strings.ReplaceAll(msg, "<digest.0.0.original@example.com>", s.messageID)
}

// Behind a relay that accepts everything, a hard bounce, three soft
// bounces, a complaint and a mailto unsubscribe each stop further mail to
// that reader within one processing round; forged bounces change nothing.
func TestBouncesComplaintsAndMailtoStopMailWithinOneRound(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.env["DIGEST_BOUNCE_ADDRESS"] = "bounce@bounces.example.com"
	readers := []string{"hard@example.net", "soft@example.net", "complain@example.net", "mailto@example.net", "ok@example.net"}
	for _, r := range readers {
		c.must("subscribers", "add", r)
	}
	// The editions below are forced and mostly empty; on the list's
	// weekly day an empty daily edition goes to nobody (it was built for
	// the weekly readers), so keep the weekly day out of the four days.
	weekly := strings.ToLower(time.Now().UTC().AddDate(0, 0, 2).Weekday().String()[:3])
	c.must("lists", "update", "daily", "--weekly-day", weekly)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	send := func(date string) map[string]sentTo {
		t.Helper()
		n := len(srv.Messages())
		c.must("send", "--smtp", srv.URL(), "--date", date, "--force")
		return lastSends(t, srv, n)
	}
	day := func(i int) string { return time.Now().UTC().AddDate(0, 0, i-3).Format(time.DateOnly) }

	first := send(day(0))
	if len(first) != 5 {
		t.Fatalf("first edition went to %d readers, want 5", len(first))
	}
	for to, s := range first {
		if !regexp.MustCompile(`^bounce\+\d+-[0-9a-f]{16}@bounces\.example\.com$`).MatchString(s.from) {
			t.Errorf("%s: envelope sender %q is not a VERP address", to, s.from)
		}
		if !strings.HasPrefix(s.mailto, "unsubscribe+") || !strings.HasSuffix(s.mailto, "@bounces.example.com") {
			t.Errorf("%s: mailto %q is not unsubscribe+TOKEN@ the bounce domain", to, s.mailto)
		}
	}
	dir := filepath.Join(c.dir, "round1")
	os.MkdirAll(dir, 0o755)
	write := func(name, body string) { os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644) }
	write("1-hard.eml", bounceFor(t, "postfix-hard.eml", first["hard@example.net"]))
	write("2-soft.eml", bounceFor(t, "postfix-delayed.eml", first["soft@example.net"]))
	write("3-complaint.eml", bounceFor(t, "arf-yahoo.eml", first["complain@example.net"]))
	write("4-mailto.eml", "From: mailto@example.net\r\nTo: "+first["mailto@example.net"].mailto+"\r\nSubject: unsubscribe daily\r\nMessage-ID: <u1@example.net>\r\n\r\n")
	// A forged hard bounce for ok@: the VERP id of a real delivery with a
	// made-up HMAC, and no Message-ID digest knows.
	forged := first["ok@example.net"]
	forged.from = regexp.MustCompile(`-[0-9a-f]{16}@`).ReplaceAllString(forged.from, "-0123456789abcdef@")
	forged.messageID = "<not-ours@example.com>"
	write("5-forged.eml", bounceFor(t, "exchange-hard.eml", forged))
	write("6-reply.eml", bounceFor(t, "reply.eml", first["ok@example.net"]))
	out := c.must("bounces", "process", dir)
	for _, want := range []string{"hard bounce 5.1.1 for hard@example.net", "soft bounce 4.2.2 for soft@example.net: 1 in the last 5",
		"complaint from complain@example.net", "unsubscribed by mail from daily", "bad HMAC: ignored", "6-reply.eml: not a delivery report: left in the mailbox"} {
		if !strings.Contains(out, want) {
			t.Errorf("bounces process output lacks %q:\n%s", want, out)
		}
	}
	// The same hard bounce again (an MTA retrying the pipe) counts once.
	if out := c.must("bounces", "process", filepath.Join(dir, "1-hard.eml")); !strings.Contains(out, "already processed") {
		t.Errorf("second processing: %s", out)
	}

	second := send(day(1))
	for _, gone := range []string{"hard@example.net", "complain@example.net", "mailto@example.net"} {
		if _, ok := second[gone]; ok {
			t.Errorf("%s was mailed again after one processing round", gone)
		}
	}
	if _, ok := second["ok@example.net"]; !ok {
		t.Error("ok@ stopped getting mail after a forged bounce")
	}
	// Soft bounces: the second and third, through standard input (a pipe).
	out, _, code := c.runIn(strings.NewReader(bounceFor(t, "exim-soft.eml", second["soft@example.net"])), "bounces", "process")
	if code != 0 || !strings.Contains(out, "2 in the last 5") {
		t.Fatalf("second soft bounce: exit %d: %s", code, out)
	}
	third := send(day(2))
	if _, ok := third["soft@example.net"]; !ok {
		t.Fatalf("soft@ was stopped after two soft bounces; third went to %v", third)
	}
	// Another warning of the same shape (its own Message-ID).
	again := strings.Replace(bounceFor(t, "postfix-delayed.eml", third["soft@example.net"]), "<20250512120004.B2@", "<20250514120004.B3@", 1)
	out, _, _ = c.runIn(strings.NewReader(again), "bounces", "process")
	if !strings.Contains(out, "marked bounced") {
		t.Fatalf("third soft bounce: %s", out)
	}
	fourth := send(day(3))
	if _, ok := fourth["soft@example.net"]; ok {
		t.Error("soft@ was mailed after three soft bounces in the last five editions")
	}
	if len(fourth) != 1 {
		t.Errorf("fourth edition went to %v, want ok@ only", fourth)
	}

	// The suppression list holds the hard bounce and the complaint; the
	// summary counts them, and a sign-up of either is refused.
	sup := c.must("suppressions", "list", "--json")
	var sups []struct{ Email, Reason string }
	json.Unmarshal([]byte(sup), &sups)
	reasons := map[string]string{}
	for _, x := range sups {
		reasons[x.Email] = x.Reason
	}
	if len(sups) != 2 || reasons["hard@example.net"] != "hard-bounce" || reasons["complain@example.net"] != "complaint" {
		t.Errorf("suppressions: %s", sup)
	}
	_, errs, code := c.run("subscribers", "add", "complain@example.net", "--list", "daily")
	if code == 0 || !strings.Contains(errs, "suppression list") {
		t.Errorf("adding a suppressed address: exit %d, %s", code, errs)
	}

	// The first edition's report.
	var rep struct {
		Recipients   int64            `json:"recipients"`
		Accepted     int64            `json:"accepted"`
		BouncedHard  int64            `json:"bounced_hard"`
		BouncedSoft  int64            `json:"bounced_soft"`
		Complaints   int64            `json:"complaints"`
		Unsubscribes map[string]int64 `json:"unsubscribes"`
	}
	raw := c.must("editions", "report", "1", "--json")
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Recipients != 5 || rep.Accepted != 5 || rep.BouncedHard != 1 || rep.BouncedSoft != 1 || rep.Complaints != 1 ||
		rep.Unsubscribes["mail"] != 1 || rep.Unsubscribes["complaint"] != 1 {
		t.Errorf("report of edition 1: %s", raw)
	}
	if text := c.must("editions", "report", "1"); !strings.Contains(text, "1 hard, 1 soft") || !strings.Contains(text, "0 one-click, 0 link, 1 mail, 1 complaint") {
		t.Errorf("report table:\n%s", text)
	}
}
