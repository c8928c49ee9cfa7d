package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

// editionInfos reads editions list --json.
func (c *cli) editionInfos(args ...string) []struct {
	ID         int64  `json:"id"`
	List       string `json:"list"`
	Date       string `json:"date"`
	Stories    int    `json:"stories"`
	Recipients struct {
		Sent, Queued, Deferred, Failed int
	} `json:"recipients"`
} {
	c.t.Helper()
	var out []struct {
		ID         int64  `json:"id"`
		List       string `json:"list"`
		Date       string `json:"date"`
		Stories    int    `json:"stories"`
		Recipients struct {
			Sent, Queued, Deferred, Failed int
		} `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(c.must(append([]string{"editions", "list", "--json"}, args...)...)), &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// TestEditionsListShowRebuildDiscard is the quiet day of issue 10: an
// edition forced with no story is rebuilt once stories arrive, an unsent
// edition can be discarded, and neither is allowed once someone got it.
func TestEditionsListShowRebuildDiscard(t *testing.T) {
	c := newCLI(t)
	// A quiet morning: nobody subscribed yet, send --force stores an
	// empty edition.
	c.must("send", "--force")
	eds := c.editionInfos()
	if len(eds) != 1 || eds[0].Stories != 0 || eds[0].List != "daily" {
		t.Fatalf("editions list = %+v, want one empty edition of daily", eds)
	}
	id := fmt.Sprint(eds[0].ID)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	out := c.must("editions", "rebuild", id)
	if !strings.Contains(out, "rebuilt edition "+id+" of daily") || !strings.Contains(out, ": 2 stories") {
		t.Errorf("rebuild said %q", out)
	}
	show := c.must("editions", "show", id)
	for _, want := range []string{"Putin not ready to recognise Biden", "[lead]", "0 sent, 0 queued, 0 deferred, 0 failed, 0 unknown"} {
		if !strings.Contains(show, want) {
			t.Errorf("editions show lacks %q:\n%s", want, show)
		}
	}
	var js struct {
		ID    int64 `json:"id"`
		Items []struct {
			Title string `json:"title"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.must("editions", "show", id, "--json")), &js); err != nil || len(js.Items) != 2 {
		t.Errorf("editions show --json: %v %+v", err, js)
	}
	// Now someone gets it: rebuild and discard are refused.
	c.must("subscribers", "add", "ada@example.com")
	if out := c.must("send"); !strings.Contains(out, "sent 1,") || !strings.Contains(out, "using stored edition "+id) {
		t.Fatalf("send: %s", out)
	}
	for _, verb := range []string{"rebuild", "discard"} {
		_, errs, code := c.run("editions", verb, id)
		if code != 1 || !strings.Contains(errs, "edition already sent") || !strings.Contains(errs, "has gone to 1 recipient, ") {
			t.Errorf("editions %s after a send: exit %d, %q", verb, code, errs)
		}
	}
	if got := c.editionInfos("--list", "daily"); len(got) != 1 || got[0].Recipients.Sent != 1 || got[0].Stories != 2 {
		t.Errorf("after refusals: %+v", got)
	}
	// An edition nobody got can be discarded; its date builds anew.
	c.must("lists", "create", "weekly", "--from", "W <w@news.example.com>")
	c.must("send", "--list", "weekly")
	weekly := c.editionInfos("--list", "weekly")
	if len(weekly) != 1 {
		t.Fatalf("weekly editions %+v", weekly)
	}
	if out := c.must("editions", "discard", fmt.Sprint(weekly[0].ID)); !strings.Contains(out, "discarded edition") {
		t.Errorf("discard said %q", out)
	}
	if got := c.editionInfos("--list", "weekly"); len(got) != 0 {
		t.Errorf("after discard: %+v", got)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"editions", "show", "999"}, 1, "see digest editions list"},
		{[]string{"editions", "rebuild", "999"}, 1, "see digest editions list"},
		{[]string{"editions", "discard", "x"}, 2, "use the ID column of digest editions list"},
		{[]string{"deliveries", "--edition", "999"}, 1, "digest editions list"},
		{[]string{"editions", "report", "999"}, 1, "see digest editions list"},
	} {
		if _, errs, code := c.run(tt.args...); code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

// TestSendRefusesTheDefaultListBeforeARealRelay: a fresh directory
// cannot mail the placeholder sender, nor links to this machine, through
// a real relay; the outbox and test sends still work.
func TestSendRefusesTheDefaultListBeforeARealRelay(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))

	_, errs, code := c.run("send", "--smtp", srv.URL())
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 1 || len(lines) != 3 ||
		!strings.Contains(lines[0], "digest lists update daily --from") ||
		!strings.Contains(lines[1], "digest lists update daily --address") ||
		!strings.Contains(lines[2], "nothing was built or sent") {
		t.Errorf("placeholder list: exit %d, stderr:\n%s", code, errs)
	}
	if srv.Accepted() != 0 || c.rows("editions") != 0 {
		t.Fatalf("refused send left %d messages, %d editions", srv.Accepted(), c.rows("editions"))
	}
	// A test copy and the outbox are fine with the placeholder.
	if out := c.must("send", "--smtp", srv.URL(), "--test", "editor@example.net"); !strings.Contains(out, "1 test message sent") {
		t.Errorf("test send: %s", out)
	}
	c.must("lists", "update", "daily", "--from", "The Daily <daily@news.example.com>", "--address", "1 Press Row, Springfield")
	// Links to this machine are refused too, unless told it is a local relay.
	c.env["DIGEST_BASE_URL"] = "http://127.0.0.1:8080"
	_, errs, code = c.run("send", "--smtp", srv.URL())
	if code != 1 || !strings.Contains(errs, "is not https") || !strings.Contains(errs, "points at this machine") || !strings.Contains(errs, "--allow-insecure-links") {
		t.Errorf("loopback base URL: exit %d, %q", code, errs)
	}
	if c.rows("editions") != 0 {
		t.Fatal("refused send stored an edition")
	}
	c.env["DIGEST_BASE_URL"] = "http://news.example.com"
	if _, errs, code = c.run("send", "--smtp", srv.URL()); code != 1 || !strings.Contains(errs, "fix the problem above first") {
		t.Errorf("one problem: exit %d, %q", code, errs)
	}
	c.env["DIGEST_BASE_URL"] = "http://127.0.0.1:8080"
	if out := c.must("send", "--smtp", srv.URL(), "--allow-insecure-links"); !strings.Contains(out, "sent 1,") {
		t.Errorf("--allow-insecure-links: %s", out)
	}
	// serve refuses the same at start, for a list with subscribers.
	c.must("lists", "update", "daily", "--from", "The Daily Digest <digest@example.com>")
	_, errs, code = c.run("serve", "--smtp", srv.URL(), "--http", "127.0.0.1:0", "--allow-insecure-links")
	if code != 1 || !strings.Contains(errs, "placeholder") || !strings.Contains(errs, "refused to serve") {
		t.Errorf("serve with the placeholder: exit %d, %q", code, errs)
	}
}

func writeEd25519Key(t *testing.T, path string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSendTestIsTheRealSend: a DKIM key that is missing or not a key
// fails a test send as it fails the real one, before any edition is
// built or stored; with a good key the test copy is signed like the rest.
func TestSendTestIsTheRealSend(t *testing.T) {
	srv := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.env["DIGEST_DKIM_SELECTOR"] = "news"
	for name, path := range map[string]string{
		"missing": filepath.Join(c.dir, "missing.pem"),
		"garbage": c.writeFile("garbage.pem", "not a key"),
	} {
		c.env["DIGEST_DKIM_KEY_FILE"] = path
		want := 2 // not a key: a usage error
		if name == "missing" {
			want = 1 // a missing file, as any missing file
		}
		for _, args := range [][]string{{"send", "--smtp", srv.URL(), "--test", "editor@example.net"}, {"send", "--smtp", srv.URL()}, {"send"}} {
			_, errs, code := c.run(args...)
			if code != want || !strings.Contains(errs, "dkim key file") {
				t.Errorf("%s key, %v: exit %d, %q", name, args, code, errs)
			}
			// A missing file names the setting to fix, not only the OS error.
			if name == "missing" && !strings.Contains(errs, "cannot be read (no such file or directory): point key_file in [dkim] of digest.toml or DIGEST_DKIM_KEY_FILE") {
				t.Errorf("missing key, %v: %q does not say what to fix", args, errs)
			}
		}
	}
	if srv.Accepted() != 0 || c.rows("editions") != 0 || c.rows("deliveries") != 0 {
		t.Fatalf("a bad DKIM key left %d messages, %d editions, %d deliveries", srv.Accepted(), c.rows("editions"), c.rows("deliveries"))
	}
	c.env["DIGEST_DKIM_KEY_FILE"] = filepath.Join(c.dir, "dkim.pem")
	writeEd25519Key(t, c.env["DIGEST_DKIM_KEY_FILE"])
	c.must("send", "--smtp", srv.URL(), "--test", "editor@example.net")
	c.must("send", "--smtp", srv.URL())
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want the test copy and the real one", len(msgs))
	}
	for _, m := range msgs {
		if !bytes.Contains(m.Data, []byte("DKIM-Signature:")) || !bytes.Contains(m.Data, []byte("s=news")) {
			t.Errorf("message to %v is not signed:\n%.400s", m.To, m.Data)
		}
	}
	if !bytes.Contains(msgs[0].Data, []byte("Subject: [TEST]")) || c.rows("deliveries") != 1 {
		t.Errorf("test copy subject or ledger wrong (%d deliveries)", c.rows("deliveries"))
	}
}

func TestStoriesImportTakesACMSExport(t *testing.T) {
	c := newCLI(t)
	cms := c.writeFile("cms.json", `[
  {"section": "weather", "title": "Storm ahead", "url": "https://news.example.com/storm", "author": "Desk", "score": "5", "published_at": "Sat, 28 Nov 2026 06:00:00 GMT", "image": "https://cdn.example.com/storm.jpg", "byline": "Ada"},
  {"section": "weather", "title": "Sun after", "url": "https://news.example.com/sun", "author": "Desk", "score": 2}
]`)
	out := c.must("stories", "import", cms)
	if !strings.Contains(out, "imported 2 stories") || !strings.Contains(out, "ignored fields: author (2 rows)") {
		t.Errorf("import said %q", out)
	}
	var list []struct {
		Title  string  `json:"title"`
		Score  float64 `json:"score"`
		Image  string  `json:"image"`
		Byline string  `json:"byline"`
	}
	json.Unmarshal([]byte(c.must("stories", "list", "--json")), &list)
	if len(list) != 2 || list[1].Score != 5 || list[1].Image != "https://cdn.example.com/storm.jpg" || list[1].Byline != "Ada" {
		t.Errorf("stored %+v", list)
	}
	// The slug section shows a readable, automatic title until set.
	if out := c.must("sections", "list"); !strings.Contains(out, "Weather (automatic)") {
		t.Errorf("sections list:\n%s", out)
	}
	c.must("sections", "set", "weather", "--title", "Forecast")
	if out := c.must("sections", "list"); !strings.Contains(out, "Forecast") || strings.Contains(out, "automatic") {
		t.Errorf("sections list after --title:\n%s", out)
	}

	bad := c.writeFile("bad.json", strings.Join([]string{
		`{"section": "news", "title": "Good one", "url": "https://news.example.com/g1"}`,
		`{"section": "news", "title": "Bad score", "url": "https://news.example.com/b", "score": "high"}`,
		`{"section": "news", "title": "Good two", "url": "https://news.example.com/g2"}`,
	}, "\n"))
	_, errs, code := c.run("stories", "import", bad)
	if code != 1 || !strings.Contains(errs, `line 2: score "high" is not a number`) || !strings.Contains(errs, "nothing was imported (--skip-bad") {
		t.Errorf("all-or-nothing import: exit %d, %q", code, errs)
	}
	out, errs, code = c.run("stories", "import", bad, "--skip-bad")
	if code != 0 || !strings.Contains(out, "imported 2 stories") || !strings.Contains(out, "skipped 1 bad line") || !strings.Contains(errs, `skipped line 2: score "high" is not a number`) {
		t.Errorf("--skip-bad: exit %d, out %q, err %q", code, out, errs)
	}
}

// TestSendReportsWhatWasLeftOut: a section with more stories than its
// maximum and More headlines hold says what was left out, and why.
func TestSendReportsWhatWasLeftOut(t *testing.T) {
	c := newCLI(t)
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, `{"section": "World", "title": "Story %d", "url": "https://news.example.com/%d", "published_at": %q}`+"\n",
			i, i, time.Now().Add(-time.Duration(i+1)*time.Minute).UTC().Format(time.RFC3339))
	}
	c.must("stories", "import", c.writeFile("s.json", b.String()))
	c.must("subscribers", "add", "ada@example.com")
	_, errs, _ := c.run("preview")
	if !strings.Contains(errs, "warning: Left out 1 story: 1 section full") {
		t.Errorf("preview warnings:\n%s", errs)
	}
	out := c.must("send")
	if !strings.Contains(out, "left out 1 story: 1 section full (section full and More headlines full wait for the next edition)") {
		t.Errorf("send said:\n%s", out)
	}
}

// splitCommand splits a shell command line as the demo prints it: words,
// double- or single-quoted strings.
func splitCommand(line string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestDemoAdviceWorksWhenCopied runs the three commands the demo ends
// with, as printed.
func TestDemoAdviceWorksWhenCopied(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(c.dir, "demo")
	out := c.must("demo", "--dir", dir)
	var cmds [][]string
	for _, line := range strings.Split(out, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "digest ") {
			cmds = append(cmds, splitCommand(l)[1:])
		}
	}
	if len(cmds) != 3 || !strings.Contains(out, "  3. ") {
		t.Fatalf("demo's last lines name %d commands, want 3:\n%s", len(cmds), out)
	}
	if got := c.must(cmds[0]...); !strings.Contains(got, "1 test message sent") {
		t.Errorf("%v: %s", cmds[0], got)
	}
	if got := c.must(cmds[1]...); !strings.Contains(got, "list daily updated") {
		t.Errorf("%v: %s", cmds[1], got)
	}
	// The web preview starts; it is stopped as soon as it says where.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	so := &cancelOnWrite{cancel: cancel}
	var se bytes.Buffer
	args := append(cmds[2], "--addr", "127.0.0.1:0")
	if code := Run(ctx, args, strings.NewReader(""), so, &se, func(k string) string { return c.env[k] }); code != 0 || !strings.Contains(so.String(), "preview at http://") {
		t.Errorf("%v: exit %d, %q %q", args, code, so.String(), se.String())
	}
}

// cancelOnWrite records output and cancels a context at the first write:
// a server that printed its address has started.
type cancelOnWrite struct {
	bytes.Buffer
	cancel func()
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	defer w.cancel()
	return w.Buffer.Write(p)
}

// TestImportSkipBadAllBadFails: --skip-bad that imports nothing because
// every line was bad exits 1 with one line, lists the bad lines, and
// stores nothing; one good line among them is a success.
func TestImportSkipBadAllBadFails(t *testing.T) {
	c := newCLI(t)
	allBad := c.writeFile("allbad.json", strings.Join([]string{
		`{"section": "news", "title": "Bad score", "url": "https://news.example.com/b1", "score": "high"}`,
		`{"section": "news", "title": "No link"}`,
	}, "\n"))
	for _, extra := range [][]string{nil, {"--json"}} {
		out, errs, code := c.run(append([]string{"stories", "import", allBad, "--skip-bad"}, extra...)...)
		want := "digest: import " + allBad + ": no story imported: all 2 lines were bad (listed above)\n"
		if code != 1 || !strings.HasSuffix(errs, want) || !strings.Contains(errs, "skipped line 1: ") || !strings.Contains(errs, "skipped line 2: ") || out != "" {
			t.Errorf("all bad %v: exit %d, out %q, err %q", extra, code, out, errs)
		}
	}
	if out := c.must("stories", "list", "--json"); strings.Contains(out, "news.example.com/b1") {
		t.Errorf("a story was stored: %s", out)
	}
	oneGood := c.writeFile("onegood.json", strings.Join([]string{
		`{"section": "news", "title": "Bad score", "url": "https://news.example.com/b1", "score": "high"}`,
		`{"section": "news", "title": "Good", "url": "https://news.example.com/g?utm_source=cms"}`,
	}, "\n"))
	out, errs, code := c.run("stories", "import", oneGood, "--skip-bad")
	if code != 0 || !strings.Contains(out, "imported 1 story") {
		t.Errorf("one good line: exit %d, out %q, err %q", code, out, errs)
	}
	// The import stores the canonical URL, as feeds and the push API do.
	if out := c.must("stories", "list", "--json"); !strings.Contains(out, `"https://news.example.com/g"`) {
		t.Errorf("stored URL is not canonical: %s", out)
	}
}
