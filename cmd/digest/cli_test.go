package main

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
)

// cli runs the real command tree against one temporary database.
type cli struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, dir: dir, env: map[string]string{
		"DIGEST_DB":       filepath.Join(dir, "digest.db"),
		"DIGEST_OUTBOX":   filepath.Join(dir, "outbox"),
		"DIGEST_BASE_URL": "https://news.example.com",
	}}
}

// newSendingCLI is newCLI with the daily list given a real sender and
// postal address, as send and serve demand before they use a real relay.
func newSendingCLI(t *testing.T) *cli {
	c := newCLI(t)
	c.must("lists", "update", "daily", "--from", "The Daily Digest <daily@news.example.com>", "--address", "1 Press Row, Springfield")
	return c
}

func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	return c.runIn(nil, args...)
}

func (c *cli) runIn(stdin io.Reader, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := Run(context.Background(), args, stdin, &out, &errb, func(k string) string { return c.env[k] })
	return out.String(), errb.String(), code
}

// must runs a command that has to succeed.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("digest %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *cli) writeFile(name, body string) string {
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return path
}

func storiesJSON(now time.Time) string {
	ts := func(h int) string { return now.Add(-time.Duration(h) * time.Hour).UTC().Format(time.RFC3339) }
	return `[
  {"section": "Americas", "title": "Putin not ready to recognise Biden", "url": "https://news.example.com/a", "teaser": "We will work with anyone.", "published_at": "` + ts(1) + `", "score": 5},
  {"section": "Economy", "title": "Markets <script>alert(1)</script> rally", "url": "https://news.example.com/b", "teaser": "Stocks & bonds", "published_at": "` + ts(2) + `"}
]`
}

func TestSendDeliversOneWellFormedMessagePerSubscriber(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com", "--name", "Ada Lovelace")
	c.must("subscribers", "add", "grace@example.com", "--name", "Eve\r\nBcc: victim@example.net")
	c.must("subscribers", "add", "reader@example.org")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))

	out := c.must("send", "--smtp", srv.URL())
	if !strings.Contains(out, "sent 3,") {
		t.Fatalf("first send: %s", out)
	}
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("server received %d messages, want 3", len(msgs))
	}
	ids := map[string]bool{}
	unsub := map[string]string{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("envelope recipients %v, want exactly one", m.To)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		h := msg.Header
		for _, name := range []string{"From", "To", "Subject", "Date", "Message-Id", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
			if h.Get(name) == "" {
				t.Errorf("%s: header %s missing", m.To[0], name)
			}
		}
		if h.Get("Bcc") != "" || len(h["Bcc"]) > 0 {
			t.Errorf("a Bcc header was injected through a subscriber name")
		}
		to, err := mail.ParseAddress(h.Get("To"))
		if err != nil || !strings.EqualFold(to.Address, m.To[0]) {
			t.Errorf("To %q does not match envelope %s", h.Get("To"), m.To[0])
		}
		if _, err := mail.ParseDate(h.Get("Date")); err != nil {
			t.Errorf("Date: %v", err)
		}
		ids[h.Get("Message-Id")] = true
		if !strings.Contains(h.Get("Message-Id"), "@news.example.com>") {
			t.Errorf("Message-ID %q not on the sender's domain", h.Get("Message-Id"))
		}
		dec := new(mime.WordDecoder)
		subject, _ := dec.DecodeHeader(h.Get("Subject"))
		if !strings.Contains(subject, "Putin not ready to recognise Biden") {
			t.Errorf("subject %q lacks the lead headline", subject)
		}
		link := h.Get("List-Unsubscribe")
		if !strings.Contains(link, "<https://news.example.com/u/") || !strings.Contains(link, "mailto:") {
			t.Errorf("List-Unsubscribe %q", link)
		}
		unsub[m.To[0]] = link

		text, html := parts(t, msg)
		if strings.Contains(html, "<script>alert(1)</script>") || !strings.Contains(html, "&lt;script&gt;") {
			t.Error("story title not escaped in HTML")
		}
		if !strings.Contains(text, "Markets <script>alert(1)</script> rally") {
			t.Error("text part lacks the story title")
		}
		token := between(link, "/u/", ">")
		if !strings.Contains(html, "https://news.example.com/u/"+token) || !strings.Contains(text, "https://news.example.com/u/"+token) {
			t.Errorf("%s: body lacks its own unsubscribe link", m.To[0])
		}
		for _, part := range []string{text, html} {
			if strings.Contains(part, "[[digest:") {
				t.Error("placeholder left in the message")
			}
		}
		if m.To[0] == "ada@example.com" && !strings.Contains(html, "Hi Ada Lovelace") {
			t.Error("greeting not personalised")
		}
	}
	if len(ids) != 3 {
		t.Errorf("Message-IDs not unique: %v", ids)
	}
	if unsub["ada@example.com"] == unsub["grace@example.com"] {
		t.Error("two subscribers share an unsubscribe link")
	}

	out = c.must("send", "--smtp", srv.URL())
	if !strings.Contains(out, "sent 0, already sent 3") {
		t.Fatalf("second send: %s", out)
	}
	if got := len(srv.Messages()); got != 3 {
		t.Fatalf("second send delivered again: server has %d messages", got)
	}
}

// parts checks the multipart/alternative structure (text first, HTML last)
// and returns the decoded bodies.
func parts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p) // multipart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		switch ct {
		case "text/plain":
			text = string(body)
		case "text/html":
			html = string(body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", types)
	}
	return text, html
}

// badCall is a command line that must fail with code and an error
// containing want.
type badCall struct {
	name string
	args []string
	code int
	want string
}

// expectFailures runs each call as a subtest and checks its exit code,
// that its error says want, and that the error's first line starts with
// "digest: "; check, when not nil, adds checks of its own.
func (c *cli) expectFailures(t *testing.T, calls []badCall, check func(t *testing.T, tt badCall, errs string)) {
	t.Helper()
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := c.run(tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tt.code, out, errs, tt.want)
			}
			if first := strings.SplitN(errs, "\n", 2)[0]; !strings.HasPrefix(first, "digest: ") {
				t.Errorf("error is not one line starting with digest: %q", errs)
			}
			if check != nil {
				check(t, tt, errs)
			}
		})
	}
}

func between(s, a, b string) string { return storetest.Between(s, a, b) }

func TestSendResumesAfterUnreachableServerAndRefusedLogin(t *testing.T) {
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("subscribers", "add", "grace@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))

	// A port nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, errs, code := c.run("send", "--smtp", "smtp://"+dead+"?tls=none")
	if code != 1 || !strings.Contains(errs, "cannot be reached") || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
		t.Fatalf("unreachable: exit %d, stderr %q", code, errs)
	}

	srv := smtptest.Start(t, func(s *smtptest.Server) { s.Username, s.Password = "editor", "right-password" })
	_, errs, code = c.run("send", "--smtp", "smtp://editor:wrong-s3cret@"+srv.Addr+"?tls=none&auth=plain")
	if code != 1 || !strings.Contains(errs, "refused the login") {
		t.Fatalf("bad login: exit %d, stderr %q", code, errs)
	}
	if strings.Contains(errs, "wrong-s3cret") {
		t.Fatal("the password was printed")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages accepted without login", n)
	}

	// The stored edition is resumed once the relay works.
	out := c.must("send", "--smtp", "smtp://editor:right-password@"+srv.Addr+"?tls=none&auth=plain")
	if !strings.Contains(out, "using stored edition") || !strings.Contains(out, "sent 2,") {
		t.Fatalf("resume: %s", out)
	}
	if strings.Contains(out, "right-password") {
		t.Fatal("the password was printed")
	}
}

func TestSendWithoutSMTPWritesOutbox(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	out := c.must("send")
	if !strings.Contains(out, "outbox") {
		t.Fatalf("send does not say where the messages went: %s", out)
	}
	files, _ := filepath.Glob(filepath.Join(c.dir, "outbox", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d .eml files, want 1", len(files))
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	if _, err := mail.ReadMessage(f); err != nil {
		t.Fatalf("outbox file is not a message: %v", err)
	}
}

func TestSendNothingNew(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	out := c.must("send")
	if !strings.Contains(out, "no edition built") {
		t.Fatalf("got %q", out)
	}
	out = c.must("send", "--force")
	if !strings.Contains(out, "sent 1,") {
		t.Fatalf("forced send: %q", out)
	}
}

func TestBadInput(t *testing.T) {
	c := newCLI(t)
	notDB := c.writeFile("notes.txt", strings.Repeat("plain text, not a database\n", 10))
	badJSON := c.writeFile("bad.json", `{"section":"A","title":"One","url":"https://x.example/1"}
{"section":"A","title":"Two","url":"https://x.example/2"}
{"section":"A","title":"Three",
`)
	tests := []badCall{
		{"invalid email", []string{"subscribers", "add", "not an email"}, 2, "white space"},
		{"two at signs", []string{"subscribers", "add", "a@b@example.com"}, 2, "exactly one @"},
		{"story without title", []string{"stories", "add", "--section", "A", "--url", "https://x.example/"}, 2, "no title"},
		{"story without url", []string{"stories", "add", "--section", "A", "--title", "T"}, 2, "no url"},
		{"story with ftp url", []string{"stories", "add", "--section", "A", "--title", "T", "--url", "ftp://x.example/"}, 2, "http(s)"},
		{"malformed json line", []string{"stories", "import", badJSON}, 1, "line 3"},
		{"not a database", []string{"--db", notDB, "stories", "list"}, 1, "not a SQLite database"},
		{"unknown list", []string{"send", "--list", "nope"}, 1, "unknown list"},
		{"bad date", []string{"send", "--date", "28.11.2026"}, 2, "YYYY-MM-DD"},
		{"bad smtp url", []string{"send", "--smtp", "http://x"}, 2, "scheme"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", []string{"send", "--nope"}, 2, "unknown flag"},
	}
	c.expectFailures(t, tests, nil)
	// Nothing from the bad JSON file was imported.
	out := c.must("stories", "list", "--json")
	if strings.Contains(out, "x.example/1") {
		t.Error("a story from a file with a malformed line was imported")
	}
}

func TestDemoFromEmptyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	c := newCLI(t)
	out := c.must("demo", "--dir", dir)
	for _, want := range []string{"preview.html", "outbox", "3 messages written"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "preview.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Americas", "Rest of Asia", "Coronavirus Pandemic", "Economy", "Transport", "READ MORE", "More headlines", "Unsubscribe"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("preview.html lacks %q", want)
		}
	}
	text, err := os.ReadFile(filepath.Join(dir, "preview.txt"))
	if err != nil || !bytes.Contains(text, []byte("READ MORE: https://news.example.com/")) {
		t.Errorf("preview.txt: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	if len(files) != 3 {
		t.Fatalf("%d messages in the outbox, want 3", len(files))
	}
	// A second run sends nothing twice.
	out = c.must("demo", "--dir", dir)
	if !strings.Contains(out, "0 messages written, 3 already there") {
		t.Errorf("second demo run: %s", out)
	}
}

func TestStoriesListJSONIncludesIDs(t *testing.T) {
	c := newCLI(t)
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello", "--score", "3", "--published", "2026-11-27T10:00:00Z")
	out := c.must("stories", "list", "--json")
	for _, want := range []string{`"id":1`, `"section":"World"`, `"score":3`, `"published_at":"2026-11-27T10:00:00Z"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stories list --json lacks %s: %s", want, out)
		}
	}
}

func TestFlagsOverrideEnvironmentAndFile(t *testing.T) {
	c := newCLI(t)
	fileDB := filepath.Join(c.dir, "file.db")
	flagDB := filepath.Join(c.dir, "flag.db")
	cfg := c.writeFile("digest.toml", "db = \""+fileDB+"\"\n")
	delete(c.env, "DIGEST_DB")
	c.must("--config", cfg, "stories", "add", "--section", "A", "--title", "T", "--url", "https://x.example/t")
	if _, err := os.Stat(fileDB); err != nil {
		t.Fatalf("config file's db not used: %v", err)
	}
	c.env["DIGEST_DB"] = filepath.Join(c.dir, "env.db")
	c.must("--config", cfg, "--db", flagDB, "stories", "add", "--section", "A", "--title", "T", "--url", "https://x.example/t")
	if _, err := os.Stat(flagDB); err != nil {
		t.Fatalf("--db not used over DIGEST_DB and the file: %v", err)
	}
	if _, err := os.Stat(c.env["DIGEST_DB"]); err == nil {
		t.Fatal("DIGEST_DB used although --db was given")
	}
}
