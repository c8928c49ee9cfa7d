package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"

	_ "modernc.org/sqlite"
)

// rows counts a table's rows in the CLI's database, read directly.
func (c *cli) rows(table string) int {
	c.t.Helper()
	db, err := sql.Open("sqlite", c.env["DIGEST_DB"])
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// storyIDs maps titles to ids through stories list --json.
func (c *cli) storyIDs() map[string]int64 {
	c.t.Helper()
	var list []struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(c.must("stories", "list", "--json")), &list); err != nil {
		c.t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, s := range list {
		ids[s.Title] = s.ID
	}
	return ids
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPreviewWritesTheEditionAndRecordsNothing(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com", "--name", "Ada Lovelace")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))

	html := c.must("preview")
	if !strings.Contains(html, "<!DOCTYPE html>") || !strings.Contains(html, "Putin not ready to recognise Biden") ||
		strings.Contains(html, "[[digest:") || !strings.Contains(html, "Here are today&#39;s top stories.") {
		t.Fatalf("preview HTML:\n%.500s", html)
	}
	text := c.must("preview", "--text", "--as", "ada@example.com")
	if !strings.Contains(text, "Hi Ada Lovelace") || !strings.Contains(text, "READ MORE: https://news.example.com/a") || strings.Contains(text, "<html") {
		t.Fatalf("preview --text --as:\n%s", text)
	}
	out := filepath.Join(c.dir, "p.html")
	_, errs, code := c.run("preview", "-o", out)
	if code != 0 || !strings.Contains(errs, "wrote "+out) || !strings.Contains(errs, "not stored") {
		t.Fatalf("preview -o: exit %d, %s", code, errs)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte("Putin not ready")) {
		t.Fatalf("preview file: %v", err)
	}
	if n := c.rows("editions") + c.rows("deliveries"); n != 0 {
		t.Fatalf("preview recorded %d rows", n)
	}
	// Once sent, the stored edition is what preview shows, even after
	// curation.
	c.must("send")
	ids := c.storyIDs()
	c.must("stories", "edit", itoa(ids["Putin not ready to recognise Biden"]), "--title", "Changed after sending")
	if html := c.must("preview"); !strings.Contains(html, "Putin not ready") || strings.Contains(html, "Changed after sending") {
		t.Error("preview of a stored edition does not show it as stored")
	}
}

func TestCurationShowsInPreview(t *testing.T) {
	c := newCLI(t)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	ids := c.storyIDs()
	putin, markets := itoa(ids["Putin not ready to recognise Biden"]), itoa(ids["Markets <script>alert(1)</script> rally"])

	if out := c.must("stories", "hide", putin); !strings.Contains(out, "hidden") {
		t.Errorf("hide: %s", out)
	}
	if strings.Contains(c.must("preview", "--text"), "Putin") {
		t.Error("a hidden story is in the preview")
	}
	c.must("stories", "unhide", putin)
	c.must("stories", "edit", markets, "--title", "Markets rally again", "--teaser", "", "--section", "Americas", "--score", "1")
	c.must("stories", "pin", markets)
	text := c.must("preview", "--text")
	if strings.Index(text, "Markets rally again") > strings.Index(text, "Putin") || strings.Contains(text, "Stocks & bonds") {
		t.Errorf("the pinned, edited story does not lead Americas:\n%s", text)
	}
	_, errs, _ := c.run("preview")
	if !strings.Contains(errs, "warning: Story "+markets+` "Markets rally again" (Americas) has no teaser`) {
		t.Errorf("no warning for the cleared teaser: %q", errs)
	}
	c.must("stories", "unpin", markets)
	if strings.Index(c.must("preview", "--text"), "Markets rally again") < strings.Index(text, "Putin") {
		t.Error("unpin did not take effect")
	}

	// Sections: rename, reorder, resize.
	c.must("sections", "set", "Economy", "--title", "Business & Money", "--order", "0")
	c.must("stories", "add", "--section", "Economy", "--title", "Oil falls", "--url", "https://news.example.com/oil")
	text = c.must("preview", "--text")
	if !strings.Contains(text, "Business & Money") || strings.Index(text, "Business & Money") > strings.Index(text, "Americas") {
		t.Errorf("section title/order not applied:\n%s", text)
	}
	list := c.must("sections", "list")
	if !strings.Contains(list, "Business & Money") || !strings.Contains(list, "ORDER") {
		t.Errorf("sections list:\n%s", list)
	}
	c.must("sections", "set", "Americas", "--max", "0")
	if text := c.must("preview", "--text"); strings.Contains(text, "READ MORE: https://news.example.com/a") || !strings.Contains(text, "More headlines") {
		t.Errorf("--max 0 still shows Americas as a block:\n%s", text)
	}
	var secs []struct {
		Name    string `json:"name"`
		Stories int    `json:"stories"`
	}
	if err := json.Unmarshal([]byte(c.must("sections", "list", "--json")), &secs); err != nil || len(secs) != 2 {
		t.Fatalf("sections list --json: %v %+v", err, secs)
	}
}

func TestSendTestReachesOnlyTheTestAddresses(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com", "--name", "Ada Lovelace")
	c.must("subscribers", "add", "grace@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))

	// One bad address: nothing is sent at all.
	_, errs, code := c.run("send", "--smtp", srv.URL(), "--test", "editor@example.net,not an address")
	if code != 2 || !strings.Contains(errs, "white space") || !strings.Contains(errs, "nothing was sent") {
		t.Fatalf("bad address: exit %d, %q", code, errs)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("a message was sent despite a bad address")
	}

	out := c.must("send", "--smtp", srv.URL(), "--test", "editor@example.net, Ada@example.com,editor@example.net")
	if !strings.Contains(out, "2 test messages sent") {
		t.Fatalf("test send: %s", out)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	dec := new(mime.WordDecoder)
	tokens := map[string]string{}
	for _, m := range msgs {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		if !strings.HasPrefix(subject, "[TEST] The Daily Digest") {
			t.Errorf("subject %q", subject)
		}
		text, _ := parts(t, msg)
		tokens[m.To[0]] = between(msg.Header.Get("List-Unsubscribe"), "/u/", "?")
		if m.To[0] == "ada@example.com" && !strings.Contains(text, "Hi Ada Lovelace") {
			t.Error("a subscriber's test copy is not personalised")
		}
	}
	if tokens["editor@example.net"] != "test-send" || tokens["ada@example.com"] == "test-send" || tokens["ada@example.com"] == "" {
		t.Errorf("unsubscribe tokens: %v", tokens)
	}
	if n := c.rows("deliveries") + c.rows("editions"); n != 0 {
		t.Fatalf("a test send recorded %d rows", n)
	}
	if c.rows("subscribers") != 2 {
		t.Fatal("a test send created a subscriber")
	}
	// The real send afterwards reaches every subscriber.
	if out := c.must("send", "--smtp", srv.URL()); !strings.Contains(out, "sent 2,") {
		t.Fatalf("real send after a test: %s", out)
	}
}

func TestPreviewAndCurationBadInput(t *testing.T) {
	c := newCLI(t)
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	tests := []badCall{
		{"preview unknown list", []string{"preview", "--list", "nope"}, 1, `unknown list "nope"`},
		{"preview bad date", []string{"preview", "--date", "28.11.2026"}, 2, "YYYY-MM-DD"},
		{"preview tomorrow", []string{"preview", "--date", "tomorrow"}, 2, "or next"},
		{"preview future date", []string{"preview", "--date", "2999-01-01"}, 1, "in the future"},
		{"preview unknown subscriber", []string{"preview", "--as", "nobody@example.com"}, 1, "unknown subscriber"},
		{"preview serve with list", []string{"preview", "--serve", "--list", "daily"}, 2, "does not go with --serve"},
		{"pin unknown id", []string{"stories", "pin", "999"}, 1, "story 999: no such story"},
		{"hide bad id", []string{"stories", "hide", "abc"}, 2, `story id "abc" is not a number`},
		{"edit nothing", []string{"stories", "edit", "1"}, 2, "nothing to change"},
		{"edit bad url", []string{"stories", "edit", "1", "--url", "ftp://x"}, 2, "http(s)"},
		{"edit unknown id", []string{"stories", "edit", "42", "--title", "x"}, 1, "story 42: no such story"},
		{"sections set unknown", []string{"sections", "set", "Wrold", "--max", "2"}, 1, `unknown section "Wrold"`},
		{"sections set negative", []string{"sections", "set", "World", "--max", "-1"}, 2, "negative"},
		{"send test no address", []string{"send", "--test", " , "}, 2, "at least one address"},
		{"send test unknown list", []string{"send", "--test", "a@example.com", "--list", "nope"}, 1, "unknown list"},
	}
	c.expectFailures(t, tests, nil)
	if out := c.must("sections", "set", "Culture", "--create", "--max", "2"); !strings.Contains(out, "section Culture") {
		t.Errorf("--create: %s", out)
	}
	if files, _ := filepath.Glob(filepath.Join(c.dir, "outbox", "*")); len(files) != 0 {
		t.Errorf("bad input sent %d messages", len(files))
	}
}

func TestPreviewServeOnTakenPort(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	ln := listenLoopback(t)
	_, port, _ := strings.Cut(ln, ":")
	_, errs, code := c.run("preview", "--serve", "--addr", ln)
	if code != 1 || !strings.Contains(errs, "port "+port+" is already in use") {
		t.Fatalf("exit %d, %q", code, errs)
	}
}

// listenLoopback holds a loopback port for the test and returns it.
func listenLoopback(t *testing.T) string { return storetest.HoldPort(t) }
