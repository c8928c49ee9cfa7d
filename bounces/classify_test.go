package bounces

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus is every message in testdata with what it must be read as. The
// messages are hand-made in the shapes real providers send.
var corpus = []struct {
	file, format string
	kind         Kind
	status       string
	recipient    string
	original     bool // quotes the original Message-ID
}{
	{"postfix-hard.eml", "dsn", Hard, "5.1.1", "alice@example.net", true},
	{"gmail-hard.eml", "dsn", Hard, "5.1.1", "bob.smith@gmail.com", true},
	{"exchange-hard.eml", "dsn", Hard, "5.1.10", "carol@contoso.com", true},
	{"yahoo-hard.eml", "heuristic", Hard, "", "dan@yahoo.com", true},
	{"qmail-hard.eml", "heuristic", Hard, "5.1.1", "erin@example.org", true},
	{"postfix-delayed.eml", "dsn", Soft, "4.2.2", "frank@example.net", true},
	{"exim-soft.eml", "heuristic", Soft, "4.2.2", "grace@example.co.uk", true},
	{"ses-hard.eml", "dsn", Hard, "5.1.1", "heidi@example.com", true},
	{"arf-yahoo.eml", "arf", Complaint, "", "ivan@yahoo.com", true},
	{"arf-microsoft.eml", "arf", Complaint, "", "", true},
	{"delivered.eml", "dsn", None, "", "judy@example.net", false},
	{"autoreply.eml", "", NotReport, "", "", false},
	{"reply.eml", "", NotReport, "", "", false},
}

func TestClassifyCorpus(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range corpus {
		seen[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := Classify(f)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != c.kind || rep.Format != c.format || rep.Status != c.status {
				t.Errorf("got kind %q format %q status %q, want %q %q %q", rep.Kind, rep.Format, rep.Status, c.kind, c.format, c.status)
			}
			if c.recipient != "" && (len(rep.Recipients) == 0 || rep.Recipients[0].Email != c.recipient) {
				t.Errorf("recipients %+v, want %s first", rep.Recipients, c.recipient)
			}
			if got := rep.OriginalMessageID == "<digest.0.0.original@example.com>"; got != c.original {
				t.Errorf("original Message-ID %q, want found=%v", rep.OriginalMessageID, c.original)
			}
			if c.kind != NotReport && !contains(rep.Envelope, "bounce+0-0000000000000000@bounces.example.com") {
				t.Errorf("envelope %v lacks the VERP address", rep.Envelope)
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no expected classification in the table", f)
		}
	}
}

func TestClassifyUnsubscribeRequest(t *testing.T) {
	msg := "From: Reader <r@example.net>\r\nTo: unsubscribe+AbC_dEf-0123456789abcdefghij@bounces.example.com\r\nSubject: unsubscribe daily\r\n\r\n"
	rep, err := Classify(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != Unsubscribe || rep.Token != "AbC_dEf-0123456789abcdefghij" || rep.Subject != "unsubscribe daily" {
		t.Errorf("got %+v token %q", rep, rep.Token)
	}
}

func TestVERPRoundTrip(t *testing.T) {
	key := []byte("k")
	d := DeliveryRef{ID: 42, EditionID: 7, SubscriberID: 9}
	addr := VERP("bounce@bounces.example.com", key, d)
	id, mac, ok := ParseVERP(strings.ToUpper(addr)) // an MTA may fold case
	if !ok || id != 42 || !VerifyVERP(key, d, mac) {
		t.Fatalf("%s: id %d mac %s ok %v", addr, id, mac, ok)
	}
	if VerifyVERP(key, DeliveryRef{ID: 42, EditionID: 7, SubscriberID: 10}, mac) {
		t.Error("the HMAC of another subscriber's delivery verified")
	}
	if VerifyVERP([]byte("other"), d, mac) {
		t.Error("the HMAC verified under another key")
	}
	if _, _, ok := ParseVERP("unsubscribe+abc-0123456789abcdef@x"); ok {
		t.Error("an unsubscribe address read as VERP")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
