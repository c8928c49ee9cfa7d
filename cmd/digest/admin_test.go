package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListsCommands(t *testing.T) {
	c := newCLI(t)
	out := c.must("lists", "create", "weekly", "--from", "The Weekly <Weekly@EXAMPLE.com>", "--address", "1 Main St\nSpringfield",
		"--subject-prefix", "[W]", "--sections", "Economy,Americas", "--schedule", "0 7 * * 1", "--tz", "Europe/Paris", "--title", "The Weekly")
	for _, want := range []string{"list weekly created", "The Weekly <Weekly@example.com>", "1 Main St, Springfield", "Economy, Americas", "0 7 * * 1", "(next: Mon ", "Europe/Paris", "en (ltr)"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	c.must("lists", "create", "akhbar", "--from", "أخبار <akhbar@example.com>", "--language", "ar")
	c.must("subscribers", "add", "ada@example.com", "--list", "weekly")
	c.must("subscribers", "add", "bob@example.com", "--list", "weekly")
	c.must("subscribers", "unsubscribe", "bob@example.com", "--list", "weekly")

	out = c.must("lists", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "akhbar") || !strings.HasPrefix(lines[3], "weekly") {
		t.Fatalf("lists list:\n%s", out)
	}
	if f := strings.Fields(lines[3]); f[len(f)-3] != "1" || f[len(f)-2] != "1" || f[len(f)-1] != "0" {
		t.Errorf("weekly counts: %q", lines[3])
	}

	var shown struct {
		Name, From, Timezone, Direction, Language string
		Sections                                  []string
		Subscribers                               struct{ Active, Unsubscribed, Bounced int }
		NextRun                                   string `json:"next_run"`
	}
	if err := json.Unmarshal([]byte(c.must("lists", "show", "weekly", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Name != "weekly" || shown.Timezone != "Europe/Paris" || shown.Subscribers.Active != 1 || shown.Subscribers.Unsubscribed != 1 || shown.NextRun == "" {
		t.Errorf("lists show --json: %+v", shown)
	}
	if out := c.must("lists", "show", "akhbar"); !strings.Contains(out, "ar (rtl)") {
		t.Errorf("arabic list is not right to left:\n%s", out)
	}

	out = c.must("lists", "update", "weekly", "--schedule", "30 6 * * 1-5", "--language", "he")
	if !strings.Contains(out, "30 6 * * 1-5") || !strings.Contains(out, "he (rtl)") || !strings.Contains(out, "[W]") || !strings.Contains(out, "Europe/Paris") {
		t.Errorf("update changed the wrong settings:\n%s", out)
	}

	_, errs, code := c.run("lists", "delete", "weekly")
	if code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("delete with subscribers: exit %d, %q", code, errs)
	}
	c.must("lists", "show", "weekly")
	out = c.must("lists", "delete", "weekly", "--force")
	if !strings.Contains(out, "deleted with 2 memberships") {
		t.Errorf("forced delete: %s", out)
	}
	if _, errs, code := c.run("lists", "show", "weekly"); code != 1 || !strings.Contains(errs, "unknown list") {
		t.Errorf("deleted list still shown: %d %q", code, errs)
	}
	if out := c.must("subscribers", "show", "ada@example.com"); !strings.Contains(out, "(on no list)") {
		t.Errorf("subscriber after list delete:\n%s", out)
	}
}

func TestSubscribersCommands(t *testing.T) {
	c := newCLI(t)
	c.must("lists", "create", "weekly", "--from", "w@example.com")
	c.must("subscribers", "add", "ada@example.com", "--name", "Ada", "--list", "daily", "--list", "weekly")
	c.must("subscribers", "add", "bob@example.com")

	out := c.must("subscribers", "unsubscribe", "ADA@example.com", "--list", "weekly")
	if strings.TrimSpace(out) != "ada@example.com unsubscribed: weekly" {
		t.Errorf("unsubscribe: %q", out)
	}
	out = c.must("subscribers", "unsubscribe", "ada@example.com", "--list", "weekly")
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("second unsubscribe: %q", out)
	}
	out = c.must("subscribers", "add", "ada@example.com", "--list", "weekly")
	if !strings.Contains(out, "unsubscribed on weekly and stays so") {
		t.Errorf("re-adding an unsubscribed person does not say it changed nothing: %q", out)
	}

	out = c.must("subscribers", "list")
	want := []string{"ID", "ada@example.com  Ada   daily   active", "ada@example.com  Ada   weekly  unsubscribed", "bob@example.com        daily   active"}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("subscribers list:\n%s", out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d %q lacks %q", i, lines[i], w)
		}
	}
	out = c.must("subscribers", "list", "--list", "weekly", "--status", "unsubscribed", "--json")
	var rows []struct{ Email, List, Status string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].Email != "ada@example.com" || rows[0].Status != "unsubscribed" {
		t.Fatalf("list --json: %v %s", err, out)
	}
	if out := c.must("subscribers", "list", "--list", "weekly", "--status", "bounced", "--json"); out != "[]\n" {
		t.Errorf("empty list --json: %q", out)
	}

	out = c.must("subscribers", "count")
	if !strings.Contains(out, "daily       2             0        0      2") || !strings.Contains(out, "2 subscribers in all") {
		t.Errorf("count:\n%s", out)
	}
	var tally struct {
		Lists []struct {
			List                        string
			Active, Unsubscribed, Total int
		}
		Subscribers int
	}
	if err := json.Unmarshal([]byte(c.must("subscribers", "count", "--list", "weekly", "--json")), &tally); err != nil ||
		len(tally.Lists) != 1 || tally.Lists[0].Unsubscribed != 1 || tally.Subscribers != 1 {
		t.Errorf("count --json: %+v %v", tally, err)
	}

	out = c.must("subscribers", "resubscribe", "ada@example.com")
	if strings.TrimSpace(out) != "ada@example.com resubscribed: weekly" {
		t.Errorf("resubscribe: %q", out)
	}
	out = c.must("subscribers", "show", "ada@example.com")
	for _, w := range []string{"email       ada@example.com", "name        Ada", "daily   active", "weekly  active", "recent deliveries", "(none)"} {
		if !strings.Contains(out, w) {
			t.Errorf("show lacks %q:\n%s", w, out)
		}
	}

	out = c.must("subscribers", "remove", "ada@example.com")
	if !strings.Contains(out, "erased 2 memberships and 0 deliveries") {
		t.Errorf("remove: %q", out)
	}
	if _, errs, code := c.run("subscribers", "show", "ada@example.com"); code != 1 || !strings.Contains(errs, "unknown subscriber") {
		t.Errorf("show after remove: %d %q", code, errs)
	}
}

func TestShowListsDeliveriesAndRemoveErasesThem(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	c.must("send")
	out := c.must("subscribers", "show", "ada@example.com", "--json")
	var d struct {
		Deliveries []struct{ List, Status, Subject string } `json:"recent_deliveries"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Deliveries) != 1 || d.Deliveries[0].Status != "sent" || d.Deliveries[0].List != "daily" {
		t.Fatalf("show --json: %v %s", err, out)
	}
	if strings.Contains(out, "token") {
		t.Error("show prints the unsubscribe token")
	}
	out = c.must("subscribers", "remove", "ada@example.com")
	if !strings.Contains(out, "erased 1 membership and 1 delivery") {
		t.Fatalf("remove: %s", out)
	}
}

func TestImportExportThroughTheCLI(t *testing.T) {
	c := newCLI(t)
	file := c.writeFile("people.csv", "\ufeffEmail;Name;City\n"+
		" Ada@Example.com ;Ada;London\n"+
		"ada@example.com;;Paris\n"+
		"eve@example.com;\"Eve\r\nBcc: victim@example.net\";\n"+
		"not an email;X;\n"+
		"zoe@bücher.example;\"Zoë; the second\";Zürich\n")
	out, errs, code := c.run("subscribers", "import", file, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run, nothing written") || !strings.Contains(out, "added 3, updated 1, unchanged 0, skipped 0, rejected 1") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	if got := c.must("subscribers", "count", "--list", "daily", "--json"); !strings.Contains(got, `"subscribers": 0`) {
		t.Fatalf("dry run wrote: %s", got)
	}
	out, errs, code = c.run("subscribers", "import", file)
	if code != 0 || !strings.Contains(out, "added 3, updated 1, unchanged 0, skipped 0, rejected 1") || !strings.Contains(out, "1 row repeated") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	if strings.TrimSpace(errs) != `line 6: rejected: email address "not an email" contains white space` {
		t.Errorf("rejected rows on stderr: %q", errs)
	}
	c.must("subscribers", "unsubscribe", "zoe@bücher.example")
	out, errs, _ = c.run("subscribers", "import", file, "-v", "--json")
	var sum struct{ Added, Updated, Unchanged, Skipped, Rejected, Duplicates int }
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Skipped != 1 || sum.Added != 0 || sum.Rejected != 1 {
		t.Fatalf("rerun --json: %v %s", err, out)
	}
	if !strings.Contains(errs, "line 7: skipped: unsubscribed on daily") || !strings.Contains(errs, "line 3: duplicate") {
		t.Errorf("--verbose reports: %q", errs)
	}

	export := c.must("subscribers", "export")
	want := "email,name,status,City\n" +
		"Ada@example.com,Ada,active,Paris\n" +
		"eve@example.com,Eve Bcc: victim@example.net,active,\n" +
		"zoe@bücher.example,Zoë; the second,unsubscribed,Zürich\n"
	if export != want {
		t.Fatalf("export:\n%s\nwant:\n%s", export, want)
	}
	// Into an empty store, through standard input, and out again.
	c2 := newCLI(t)
	out, errs, code = c2.runIn(strings.NewReader(export), "subscribers", "import", "-")
	if code != 0 || !strings.Contains(out, "added 3,") {
		t.Fatalf("import of the export: %d %s %s", code, out, errs)
	}
	if again := c2.must("subscribers", "export"); again != export {
		t.Fatalf("round trip:\n%s\nthen:\n%s", export, again)
	}
	if got := c.must("subscribers", "export", "--status", "unsubscribed"); got != "email,name,status,City\nzoe@bücher.example,Zoë; the second,unsubscribed,Zürich\n" {
		t.Errorf("export --status: %q", got)
	}

	// The imported name with a header in it cannot add one to a message.
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	c.must("send")
	files, _ := filepath.Glob(filepath.Join(c.dir, "outbox", "*.eml"))
	if len(files) != 2 {
		t.Fatalf("%d messages, want 2", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Header["Bcc"]) > 0 || bytes.Contains(b, []byte("\nBcc:")) {
			t.Errorf("%s: a Bcc header came through an imported name", f)
		}
	}
}

func TestAdminBadInput(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	empty := c.writeFile("empty.csv", "")
	noEmail := c.writeFile("names.csv", "name,city\nAda,London\n")
	binary := c.writeFile("list.xlsx", "PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary")
	tests := []badCall{
		{"create without from", []string{"lists", "create", "weekly"}, 2, "--from is required"},
		{"header injection in from", []string{"lists", "create", "weekly", "--from", "Eve\r\nBcc: x@y <eve@example.com>"}, 2, "line break"},
		{"bad schedule", []string{"lists", "create", "weekly", "--from", "w@example.com", "--schedule", "every day"}, 2, "five-field cron"},
		{"interval schedule", []string{"lists", "create", "weekly", "--from", "w@example.com", "--schedule", "@every 5m"}, 2, "is an interval"},
		{"bad time zone", []string{"lists", "create", "weekly", "--from", "w@example.com", "--tz", "Paris"}, 2, "IANA"},
		{"bad direction", []string{"lists", "create", "weekly", "--from", "w@example.com", "--direction", "down"}, 2, "ltr or rtl"},
		{"bad list name", []string{"lists", "create", "My List", "--from", "w@example.com"}, 2, "lower-case"},
		{"list exists", []string{"lists", "create", "daily", "--from", "w@example.com"}, 1, "already exists"},
		{"update nothing", []string{"lists", "update", "daily"}, 2, "nothing to change"},
		{"update unknown list", []string{"lists", "update", "nope", "--title", "x"}, 1, "unknown list"},
		{"update bad sender", []string{"lists", "update", "daily", "--from", "not an address"}, 2, "sender"},
		{"delete unknown list", []string{"lists", "delete", "nope"}, 1, "unknown list"},
		{"show needs a name", []string{"lists", "show"}, 2, "missing argument NAME"},
		{"address with spaces", []string{"subscribers", "add", "ada lovelace@example.com"}, 2, "white space"},
		{"address without domain", []string{"subscribers", "add", "ada@"}, 2, "no domain"},
		{"address too long", []string{"subscribers", "add", strings.Repeat("a", 250) + "@example.com"}, 2, "limit is 254"},
		{"remove unknown", []string{"subscribers", "remove", "nobody@example.com"}, 1, "unknown subscriber"},
		{"remove bad address", []string{"subscribers", "remove", "nobody"}, 2, "exactly one @"},
		{"unsubscribe from a list they are not on", []string{"subscribers", "unsubscribe", "ada@example.com", "--list", "nope"}, 1, "unknown list"},
		{"bad status filter", []string{"subscribers", "list", "--status", "gone"}, 2, "active, unsubscribed or bounced"},
		{"export bad status", []string{"subscribers", "export", "--status", "gone"}, 2, "active, unsubscribed or bounced"},
		{"count unknown list", []string{"subscribers", "count", "--list", "nope"}, 1, "unknown list"},
		{"import empty file", []string{"subscribers", "import", empty}, 1, "empty"},
		{"import without email column", []string{"subscribers", "import", noEmail}, 1, "no email column"},
		{"import binary file", []string{"subscribers", "import", binary}, 1, "spreadsheet"},
		{"import missing file", []string{"subscribers", "import", filepath.Join(c.dir, "nope.csv")}, 1, "no such file"},
		{"import into unknown list", []string{"subscribers", "import", noEmail, "--list", "nope"}, 1, "unknown list"},
		{"import bad batch", []string{"subscribers", "import", noEmail, "--batch", "0"}, 2, "--batch"},
	}
	c.expectFailures(t, tests, func(t *testing.T, tt badCall, errs string) {
		if strings.Contains(tt.args[1], "import") && !strings.Contains(errs, "nothing was written") && tt.code == 1 && !strings.Contains(errs, "no such file") {
			t.Errorf("import error does not say nothing was written: %q", errs)
		}
	})
	if out := c.must("subscribers", "list"); strings.Count(out, "\n") != 2 {
		t.Errorf("bad input changed the subscribers:\n%s", out)
	}
	if out := c.must("lists", "list"); strings.Count(out, "\n") != 2 {
		t.Errorf("bad input changed the lists:\n%s", out)
	}
}

// cancelOnRead cancels the command's context once n bytes of its input
// have been read: what Ctrl-C does to the signal context main passes.
type cancelOnRead struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelOnRead) Read(p []byte) (int, error) {
	if len(p) > 1024 {
		p = p[:1024]
	}
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestImportInterruptedThenRerun(t *testing.T) {
	c := newCLI(t)
	var body bytes.Buffer
	body.WriteString("email,name\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&body, "r%04d@example.com,Reader %d\n", i, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	in := &cancelOnRead{r: bytes.NewReader(body.Bytes()), n: body.Len() / 2, cancel: cancel}
	code := Run(ctx, []string{"subscribers", "import", "-", "--batch", "500"}, in, &out, &errb, func(k string) string { return c.env[k] })
	msg := errb.String()
	if code != 1 || !strings.Contains(msg, "interrupted") || !strings.Contains(msg, "run the same import again") || strings.Count(msg, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, msg)
	}
	var tally struct{ Subscribers int }
	json.Unmarshal([]byte(c.must("subscribers", "count", "--json")), &tally)
	if tally.Subscribers == 0 || tally.Subscribers%500 != 0 || tally.Subscribers == 5000 ||
		!strings.Contains(msg, fmt.Sprintf("rows through line %d are committed (added %d,", tally.Subscribers+1, tally.Subscribers)) {
		t.Fatalf("%d subscribers stored after the interrupt; stderr %q", tally.Subscribers, msg)
	}
	out2, _, code := c.runIn(bytes.NewReader(body.Bytes()), "subscribers", "import", "-")
	if code != 0 || !strings.Contains(out2, fmt.Sprintf("added %d, updated 0, unchanged %d,", 5000-tally.Subscribers, tally.Subscribers)) {
		t.Fatalf("rerun: exit %d, %s", code, out2)
	}
	json.Unmarshal([]byte(c.must("subscribers", "count", "--json")), &tally)
	if tally.Subscribers != 5000 {
		t.Fatalf("%d subscribers after the rerun, want 5000", tally.Subscribers)
	}
}
