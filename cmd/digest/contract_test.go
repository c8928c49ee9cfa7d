package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// exitCase is one call of the CLI and the exit code and message it must
// give. kind is what the case proves for its command: "bad" (a usage
// mistake, exit 2), "runtime" (a failure of the data or the world, exit
// 1) or "missing" (a file that is not there, exit 1).
type exitCase struct {
	kind string
	args []string
	want string
	env  map[string]string
}

func (tc exitCase) code() int {
	if tc.kind == "bad" {
		return exitUsage
	}
	return exitRuntime
}

// commandOf is the command a call reaches, as cobra resolves it.
func commandOf(t *testing.T, args []string) *cobra.Command {
	t.Helper()
	root := (&App{ctx: context.Background()}).rootCommand()
	cmd, _, err := root.Find(args)
	if err != nil {
		t.Fatalf("find %v: %v", args, err)
	}
	return cmd
}

// leafCommands are the commands that do something, by path.
func leafCommands() []string {
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if !c.HasSubCommands() {
			out = append(out, c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk((&App{ctx: context.Background()}).rootCommand())
	sort.Strings(out)
	return out
}

// TestExitCodesOfEveryCommand runs every subcommand with a bad argument
// and with a runtime failure (and, where it reads a file, a missing
// one), and asserts the exit code and the one line on standard error. A
// command added without cases here fails the test.
func TestExitCodesOfEveryCommand(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	c.must("tokens", "create", "cms")
	notDB := c.writeFile("notes.txt", strings.Repeat("plain text, not a database\n", 10))
	badJSON := c.writeFile("bad.json", "{\"section\":\"A\",\"title\":\"One\",\"url\":\"https://x.example/1\"}\n{\"section\":")
	binary := c.writeFile("list.xlsx", "PK\x03\x04\x14\x00\x06\x00binary")
	noDB := filepath.Join(c.dir, "none", "digest.db")
	aFile := c.writeFile("plain-file", "x")
	taken := listenLoopback(t)
	missingKey := map[string]string{"DIGEST_DKIM_KEY_FILE": filepath.Join(c.dir, "missing.pem"), "DIGEST_DKIM_SELECTOR": "news"}

	cases := []exitCase{
		{"bad", []string{"frobnicate"}, `unknown command "frobnicate" for digest`, nil},
		{"bad", []string{"stories", "lsit"}, "did you mean digest stories list?", nil},
		{"bad", []string{"sections", "sett"}, "did you mean digest sections set?", nil},
		{"bad", []string{"lists", "shwo"}, "did you mean digest lists show?", nil},
		{"bad", []string{"subscribers", "ad"}, "did you mean digest subscribers add?", nil},
		{"bad", []string{"completion", "tcsh"}, `unknown command "tcsh"`, nil},
		{"missing", []string{"--config", filepath.Join(c.dir, "missing.toml"), "lists", "list"}, "no such file", nil},

		{"bad", []string{"stories", "add", "--section", "A", "--title", "T", "--url", "ftp://x.example/"}, "http(s)", nil},
		{"runtime", []string{"--db", notDB, "stories", "add", "--section", "A", "--title", "T", "--url", "https://x.example/"}, "not a SQLite database", nil},
		{"bad", []string{"stories", "import"}, "missing argument FILE", nil},
		{"missing", []string{"stories", "import", "./accepts missing.json"}, "no such file", nil},
		{"missing", []string{"stories", "import", "./missing.json"}, "no such file", nil},
		{"runtime", []string{"stories", "import", badJSON}, "line 2", nil},
		{"bad", []string{"stories", "list", "extra"}, `unexpected argument "extra"`, nil},
		{"runtime", []string{"--db", noDB, "stories", "list"}, "no database at " + noDB + ": run digest demo, or pass --db", nil},
		{"bad", []string{"stories", "pin", "abc"}, `story id "abc" is not a number`, nil},
		{"runtime", []string{"stories", "pin", "999"}, "story 999: no such story", nil},
		{"bad", []string{"stories", "unpin"}, "missing argument ID", nil},
		{"runtime", []string{"stories", "unpin", "999"}, "no such story", nil},
		{"bad", []string{"stories", "hide", "1", "2"}, `unexpected argument "2"`, nil},
		{"runtime", []string{"stories", "hide", "999"}, "no such story", nil},
		{"bad", []string{"stories", "unhide", "-1"}, "unknown flag -1", nil},
		{"runtime", []string{"stories", "unhide", "999"}, "no such story", nil},
		{"bad", []string{"stories", "edit", "1", "--url", "ftp://x"}, "http(s)", nil},
		{"bad", []string{"stories", "edit", "1", "--title", " "}, "--title is empty", nil},
		{"bad", []string{"stories", "edit", "1", "--score", "high"}, `--score "high" is not a number`, nil},
		{"runtime", []string{"stories", "edit", "42", "--title", "x"}, "story 42: no such story", nil},

		{"bad", []string{"sections", "list", "--jsno"}, "unknown flag --jsno (did you mean --json?)", nil},
		{"runtime", []string{"--db", noDB, "sections", "list"}, "no database at", nil},
		{"bad", []string{"sections", "set", "World", "--max", "-1"}, "negative", nil},
		{"runtime", []string{"sections", "set", "Wrold", "--max", "2"}, `unknown section "Wrold" (did you mean "World"?)`, nil},

		{"bad", []string{"lists", "create", "My List", "--from", "w@example.com"}, "lower-case", nil},
		{"runtime", []string{"lists", "create", "daily", "--from", "w@example.com"}, "already exists", nil},
		{"bad", []string{"lists", "list", "--lsit"}, "unknown flag --lsit", nil},
		{"runtime", []string{"--db", noDB, "lists", "list"}, "no database at", nil},
		{"bad", []string{"lists", "show"}, "missing argument NAME", nil},
		{"runtime", []string{"lists", "show", "dialy"}, `unknown list "dialy" (did you mean "daily"?)`, nil},
		{"bad", []string{"lists", "update", "daily"}, "nothing to change", nil},
		{"bad", []string{"lists", "update", "daily", "--direction", "down"}, "ltr or rtl", nil},
		{"runtime", []string{"lists", "update", "nope", "--title", "x"}, "unknown list", nil},
		{"bad", []string{"lists", "update", "daily", "--signup", "maybe"}, `signup "maybe": use open or closed`, nil},
		{"bad", []string{"lists", "update", "daily", "--weekly-day", "funday"}, `--weekly-day: weekday "funday": use mon, tue`, nil},
		{"bad", []string{"lists", "create", "wk", "--from", "w@example.com", "--weekly-day", "8"}, "--weekly-day", nil},
		{"bad", []string{"lists", "form"}, "missing argument NAME", nil},
		{"runtime", []string{"lists", "form", "nope"}, `unknown list "nope"`, nil},
		{"bad", []string{"lists", "delete"}, "missing argument NAME", nil},
		{"runtime", []string{"lists", "delete", "nope"}, "unknown list", nil},

		{"bad", []string{"subscribers", "add", "not an email"}, "white space", nil},
		{"runtime", []string{"subscribers", "add", "grace@example.com", "--list", "daly"}, `unknown list "daly" (did you mean "daily"?)`, nil},
		{"bad", []string{"subscribers", "remove", "nobody"}, "exactly one @", nil},
		{"runtime", []string{"subscribers", "remove", "nobody@example.com"}, "unknown subscriber", nil},
		{"bad", []string{"subscribers", "unsubscribe", "ada@"}, "no domain", nil},
		{"runtime", []string{"subscribers", "unsubscribe", "ada@example.com", "--list", "nope"}, "unknown list", nil},
		{"bad", []string{"subscribers", "resubscribe", "--list"}, "--list needs a value", nil},
		{"runtime", []string{"subscribers", "resubscribe", "nobody@example.com"}, "unknown subscriber", nil},
		{"bad", []string{"subscribers", "show", "a@b@example.com"}, "exactly one @", nil},
		{"runtime", []string{"subscribers", "show", "nobody@example.com"}, "unknown subscriber", nil},
		{"bad", []string{"subscribers", "list", "--status", "gone"}, "active, unsubscribed or bounced", nil},
		{"runtime", []string{"subscribers", "list", "--list", "nope"}, "unknown list", nil},
		{"bad", []string{"subscribers", "count", "--lsit", "daily"}, "did you mean --list?", nil},
		{"runtime", []string{"subscribers", "count", "--list", "nope"}, "unknown list", nil},
		{"bad", []string{"subscribers", "import", binary, "--batch", "0"}, "--batch", nil},
		{"missing", []string{"subscribers", "import", "./accepts missing.csv"}, "no such file", nil},
		{"runtime", []string{"subscribers", "import", binary}, "spreadsheet", nil},
		{"bad", []string{"subscribers", "export", "--status", "gone"}, "active, unsubscribed or bounced", nil},
		{"bad", []string{"subscribers", "export", "--consent", "--list", "daily"}, "--consent writes every consent record: it takes no --list or --status", nil},
		{"bad", []string{"subscribers", "list", "--status", "pendin"}, "or pending for sign-ups awaiting confirmation", nil},
		{"bad", []string{"subscribers", "add", "bad@@example.com", "--confirm"}, "exactly one @", nil},
		{"missing", []string{"subscribers", "add", "new@example.com", "--confirm"}, "dkim key file", missingKey},
		{"runtime", []string{"subscribers", "export", "--list", "nope"}, "unknown list", nil},

		{"bad", []string{"send", "--date", "28.11.2026"}, `--date "28.11.2026" is not YYYY-MM-DD`, nil},
		{"bad", []string{"send", "--concurrency", "many"}, `--concurrency "many" is not a whole number`, nil},
		{"runtime", []string{"send", "--list", "nope"}, "unknown list", nil},
		{"missing", []string{"send", "--force"}, "dkim key file", missingKey},

		{"bad", []string{"demo", "extra"}, `unexpected argument "extra"`, nil},
		{"runtime", []string{"demo", "--dir", aFile}, "demo:", nil},

		{"bad", []string{"preview", "--date", "tomorrow"}, `--date "tomorrow" is not YYYY-MM-DD (like 2026-11-28) or next`, nil},
		{"bad", []string{"preview", "--as", "not an email"}, "white space", nil},
		{"runtime", []string{"preview", "--list", "nope"}, "unknown list", nil},
		{"runtime", []string{"--db", noDB, "preview"}, "no database at", nil},

		{"bad", []string{"serve", "--grace", "soon"}, "grace", nil},
		{"runtime", []string{"serve", "--http", taken}, "already in use", nil},

		{"bad", []string{"deliveries", "--status", "lost"}, "not one of queued, sent, deferred, failed", nil},
		{"bad", []string{"deliveries", "--edition", "seven"}, `--edition "seven" is not a whole number`, nil},
		{"runtime", []string{"deliveries", "--edition", "99"}, "no edition 99", nil},
		{"runtime", []string{"--db", noDB, "deliveries"}, "no database at", nil},

		{"bad", []string{"editions", "list", "extra"}, `unexpected argument "extra"`, nil},
		{"runtime", []string{"editions", "list", "--list", "nope"}, "unknown list", nil},
		{"bad", []string{"editions", "show", "abc"}, `edition id "abc" is not a number`, nil},
		{"runtime", []string{"editions", "show", "999"}, "no edition with id 999 (see digest editions list)", nil},
		{"bad", []string{"editions", "rebuild"}, "missing argument ID", nil},
		{"runtime", []string{"editions", "rebuild", "999"}, "see digest editions list", nil},
		{"bad", []string{"editions", "discard", "1", "2"}, `unexpected argument "2"`, nil},
		{"runtime", []string{"editions", "discard", "999"}, "see digest editions list", nil},

		{"bad", []string{"feeds", "add", "ftp://x.example/feed"}, "is not http or https", nil},
		{"runtime", []string{"--db", notDB, "feeds", "add", "https://x.example/feed"}, "not a SQLite database", nil},
		{"bad", []string{"feeds", "list", "extra"}, `unexpected argument "extra"`, nil},
		{"runtime", []string{"--db", noDB, "feeds", "list"}, "no database at", nil},
		{"bad", []string{"feeds", "update", "1"}, "nothing to change", nil},
		{"runtime", []string{"feeds", "update", "99", "--name", "x"}, "feed 99: no such feed", nil},
		{"bad", []string{"feeds", "remove", "x"}, `feed id "x" is not a number`, nil},
		{"runtime", []string{"feeds", "remove", "99"}, "no such feed", nil},
		{"bad", []string{"feeds", "fetch", "abc"}, `feed id "abc" is not a number`, nil},
		{"runtime", []string{"feeds", "fetch", "99"}, "no such feed", nil},

		{"bad", []string{"tokens", "create"}, "missing argument NAME", nil},
		{"bad", []string{"tokens", "create", "bad name!"}, `token name "bad name!"`, nil},
		{"runtime", []string{"tokens", "create", "cms"}, "a token called cms exists", nil},
		{"bad", []string{"tokens", "list", "x"}, `unexpected argument "x"`, nil},
		{"runtime", []string{"--db", noDB, "tokens", "list"}, "no database at", nil},
		{"bad", []string{"tokens", "revoke"}, "missing argument NAME", nil},
		{"runtime", []string{"tokens", "revoke", "nope"}, `token "nope": no such token`, nil},

		{"bad", []string{"bounces", "process", "a", "b"}, `unexpected argument "a"`, nil},
		{"missing", []string{"bounces", "process", "./missing.eml"}, "no such file", nil},
		{"runtime", []string{"--db", notDB, "bounces", "process", aFile}, "not a SQLite database", nil},
		{"bad", []string{"bounces", "fetch"}, "no bounce mailbox", nil},
		{"runtime", []string{"bounces", "fetch"}, "connection refused", map[string]string{"DIGEST_BOUNCE_IMAP_URL": "imap://u:secret@127.0.0.1:1/INBOX"}},

		{"bad", []string{"editions", "report", "x"}, `edition id "x" is not a number`, nil},
		{"runtime", []string{"editions", "report", "99"}, "unknown edition 99", nil},

		{"bad", []string{"suppressions", "add", "notanemail"}, "exactly one @", nil},
		{"runtime", []string{"--db", notDB, "suppressions", "add", "a@example.com"}, "not a SQLite database", nil},
		{"bad", []string{"suppressions", "remove"}, "missing argument EMAIL", nil},
		{"runtime", []string{"suppressions", "remove", "b@example.com"}, "is not suppressed", nil},
		{"bad", []string{"suppressions", "list", "x"}, `unexpected argument "x"`, nil},
		{"runtime", []string{"--db", noDB, "suppressions", "list"}, "no database at", nil},
		{"bad", []string{"suppressions", "import"}, "missing argument FILE", nil},
		{"missing", []string{"suppressions", "import", "./missing.csv"}, "no such file", nil},
		{"runtime", []string{"--db", notDB, "suppressions", "import", aFile}, "not a SQLite database", nil},

		{"bad", []string{"completion", "bash", "extra"}, `unexpected argument "extra"`, nil},
		{"bad", []string{"completion", "zsh", "--nope"}, "unknown flag --nope", nil},
		{"bad", []string{"completion", "fish", "--descriptions"}, "did you mean --no-descriptions?", nil},
		{"bad", []string{"completion", "powershell", "x"}, `unexpected argument "x"`, nil},
	}
	// The completion scripts are printed from the binary alone: nothing
	// at run time can fail them.
	noRuntimeFailure := map[string]bool{
		"digest completion bash": true, "digest completion zsh": true,
		"digest completion fish": true, "digest completion powershell": true,
	}

	covered := map[string]map[string]bool{}
	for _, tc := range cases {
		cmd := commandOf(t, tc.args)
		path := cmd.CommandPath()
		if covered[path] == nil {
			covered[path] = map[string]bool{}
		}
		covered[path][tc.kind] = true
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				c.env[k] = v
			}
			defer func() {
				for k := range tc.env {
					delete(c.env, k)
				}
			}()
			_, errs, code := c.run(tc.args...)
			if code != tc.code() {
				t.Errorf("exit %d, want %d (%s); stderr %q", code, tc.code(), tc.kind, errs)
			}
			if !strings.HasPrefix(errs, "digest: ") || strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
				t.Errorf("stderr is not one line starting with digest: %q", errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q lacks %q", errs, tc.want)
			}
			help := "; see " + path + " --help\n"
			if tc.kind == "bad" && !strings.HasSuffix(errs, help) {
				t.Errorf("usage error %q does not end with %q", errs, help)
			}
			if tc.kind != "bad" && strings.Contains(errs, "--help") {
				t.Errorf("a runtime error points at the help: %q", errs)
			}
		})
	}
	for _, path := range leafCommands() {
		if !covered[path]["bad"] {
			t.Errorf("%s: no case with a bad argument", path)
		}
		if !covered[path]["runtime"] && !noRuntimeFailure[path] {
			t.Errorf("%s: no case with a runtime failure", path)
		}
	}
	for _, file := range []string{"stories import", "subscribers import"} {
		if !covered["digest "+file]["missing"] {
			t.Errorf("digest %s: no case with a missing file", file)
		}
	}
	if _, err := os.Stat(filepath.Dir(noDB)); err == nil {
		t.Errorf("a read command created %s", filepath.Dir(noDB))
	}
}

// TestGroupsWithoutSubcommandPrintHelp keeps the bare group working as
// before: its help, exit 0.
func TestGroupsWithoutSubcommandPrintHelp(t *testing.T) {
	c := newCLI(t)
	for _, group := range []string{"stories", "lists", "subscribers", "sections", "completion"} {
		out, errs, code := c.run(group)
		if code != 0 || !strings.Contains(out, "Available Commands") || errs != "" {
			t.Errorf("digest %s: exit %d, stdout %q, stderr %q", group, code, out, errs)
		}
	}
	if out, _, code := c.run(); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("digest: exit %d, %q", code, out)
	}
}

// readCalls are the read-only commands, called as a script would.
var readCalls = [][]string{
	{"stories", "list"}, {"stories", "list", "--json"},
	{"sections", "list"},
	{"lists", "list"}, {"lists", "show", "daily"},
	{"subscribers", "show", "ada@example.com"}, {"subscribers", "list"},
	{"subscribers", "count"}, {"subscribers", "export"},
	{"preview", "--date", "next"},
	{"deliveries"},
	{"editions", "list"},
	{"feeds", "list"},
	{"suppressions", "list"},
	{"editions", "report", "1"},
	{"lists", "form", "daily"},
	{"tokens", "list"},
	{"send", "--test", "desk@example.com"},
}

func TestReadCommandsRefuseAMissingDatabaseAndCreateNothing(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(c.dir, "empty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "digest.db")
	c.env["DIGEST_DB"] = db
	called := map[string]bool{}
	for _, args := range readCalls {
		called[commandOf(t, args).CommandPath()] = true
		_, errs, code := c.run(args...)
		want := "digest: no database at " + db + ": run digest demo, or pass --db\n"
		if code != 1 || errs != want {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, code, errs, want)
		}
	}
	// Completion reads too.
	out, _, code := c.run("__complete", "stories", "pin", "")
	if code != 0 || strings.Contains(out, "\t") {
		t.Errorf("completion without a database: exit %d, %q", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("read commands left %v behind", entries)
	}
	for path := range readOnlyCommands {
		if !called[path] && !strings.HasPrefix(path, "digest editions") {
			t.Errorf("%s is read-only but not tested here", path)
		}
	}
}

func TestReadCommandsReadAReadOnlyDatabase(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	c.must("send", "--outbox", filepath.Join(c.dir, "outbox")) // edition 1, for editions report
	before, _ := os.ReadDir(c.dir)
	db := c.env["DIGEST_DB"]
	// Root (CI) ignores these bits; for other users they make any write,
	// and the -wal/-shm a read-only SQLite connection would create,
	// impossible. store's tests prove the read-only mode itself.
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(c.dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(c.dir, 0o755) })
	for _, args := range readCalls {
		if args[0] == "send" {
			continue // needs a relay; it read the store above
		}
		if _, errs, code := c.run(args...); code != 0 {
			t.Errorf("%v on a read-only database: exit %d, %q", args, code, errs)
		}
	}
	if out, _, _ := c.run("__complete", "stories", "pin", ""); !strings.Contains(out, "1\tHello") {
		t.Errorf("completion on a read-only database: %q", out)
	}
	after, _ := os.ReadDir(c.dir)
	if len(after) != len(before) {
		t.Errorf("files before %v, after %v", before, after)
	}
}

func TestCompletionsKnowTheData(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	c.must("lists", "create", "weekly", "--from", "Weekly <w@example.com>", "--title", "The Weekly")
	c.must("stories", "add", "--section", "World", "--title", "Hello <world>", "--url", "https://news.example.com/hello")
	c.must("stories", "add", "--section", "Economy", "--title", "Markets rally", "--url", "https://news.example.com/markets")
	c.must("stories", "pin", "2")
	c.must("sections", "set", "Economy", "--title", "Money")
	c.must("send", "--force")
	c.must("feeds", "add", "https://feeds.example.com/world.xml", "--name", "World wire")
	c.must("feeds", "add", "https://feeds.example.com/sitemap.xml", "--type", "sitemap")
	c.must("tokens", "create", "cms")
	complete := func(args ...string) []string {
		t.Helper()
		out, errs, code := c.run(append([]string{"__complete"}, args...)...)
		if code != 0 {
			t.Fatalf("__complete %v: exit %d, %s", args, code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if last := lines[len(lines)-1]; last != ":4" { // ShellCompDirectiveNoFileComp
			t.Errorf("__complete %v: directive %q, want :4 (no file names)", args, last)
		}
		return lines[:len(lines)-1]
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"send", "--list", ""}, []string{"daily\tThe Daily Digest", "weekly\tThe Weekly"}},
		{[]string{"preview", "--list", "w"}, []string{"daily\tThe Daily Digest", "weekly\tThe Weekly"}}, // the shell filters
		{[]string{"subscribers", "add", "x@example.com", "--list", ""}, []string{"daily\tThe Daily Digest", "weekly\tThe Weekly"}},
		{[]string{"lists", "show", ""}, []string{"daily\tThe Daily Digest", "weekly\tThe Weekly"}},
		{[]string{"lists", "show", "daily", ""}, nil},
		{[]string{"deliveries", "--status", ""}, []string{"queued", "sent", "deferred", "failed", "unknown"}},
		{[]string{"stories", "add", "--section", ""}, []string{"World", "Economy\tMoney"}},
		{[]string{"sections", "set", ""}, []string{"World", "Economy\tMoney"}},
		{[]string{"stories", "pin", ""}, []string{"1\tHello <world>"}},
		{[]string{"stories", "unpin", ""}, []string{"2\tMarkets rally"}},
		{[]string{"stories", "hide", ""}, []string{"2\tMarkets rally", "1\tHello <world>"}},
		{[]string{"stories", "unhide", ""}, nil},
		{[]string{"stories", "edit", ""}, []string{"2\tMarkets rally", "1\tHello <world>"}},
		{[]string{"lists", "update", "weekly", "--direction", ""}, []string{"ltr", "rtl"}},
		{[]string{"serve", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"lists", "form", ""}, []string{"daily\tThe Daily Digest", "weekly\tThe Weekly"}},
		{[]string{"subscribers", "list", "--status", ""}, []string{"active", "unsubscribed", "bounced", "pending"}},
		{[]string{"subscribers", "export", "--status", ""}, []string{"active", "unsubscribed", "bounced"}},
		{[]string{"feeds", "update", ""}, []string{"1\tWorld wire", "2\thttps://feeds.example.com/sitemap.xml"}},
		{[]string{"feeds", "remove", ""}, []string{"1\tWorld wire", "2\thttps://feeds.example.com/sitemap.xml"}},
		{[]string{"feeds", "fetch", "1", ""}, []string{"1\tWorld wire", "2\thttps://feeds.example.com/sitemap.xml"}},
		{[]string{"feeds", "add", "--type", ""}, []string{"rss", "sitemap"}},
		{[]string{"tokens", "revoke", ""}, []string{"cms"}},
		{[]string{"suppressions", "add", "x@example.com", "--reason", ""}, []string{"manual", "legal", "complaint", "hard-bounce"}},
		{[]string{"suppressions", "import", "f.csv", "--reason", ""}, []string{"import", "manual", "legal", "complaint", "hard-bounce"}},
	}
	for _, tt := range tests {
		got := complete(tt.args...)
		if len(got) == 0 {
			got = nil
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("__complete %q:\n got %q\nwant %q", tt.args, got, tt.want)
		}
	}
	eds := complete("deliveries", "--edition", "")
	if len(eds) != 1 || !strings.HasPrefix(eds[0], "1\tdaily ") || !strings.Contains(eds[0], "The Daily Digest") {
		t.Errorf("edition ids: %q", eds)
	}
	for _, cmd := range []string{"show", "rebuild", "discard", "report"} {
		if got := complete("editions", cmd, ""); !slices.Equal(got, eds) {
			t.Errorf("editions %s: edition ids %q, want %q", cmd, got, eds)
		}
	}
	if got := complete("deliveries", "--list", "weekly", "--edition", ""); len(got) != 0 {
		t.Errorf("edition ids of a list without editions: %q", got)
	}
	// --db on the completed line is the database completed from.
	other := newCLI(t)
	other.must("lists", "create", "other", "--from", "o@example.com")
	got := complete("--db", other.env["DIGEST_DB"], "send", "--list", "")
	if !slices.Contains(got, "other\tother") {
		t.Errorf("completion ignored --db: %q", got)
	}
	out := c.must("completion", "bash")
	if !strings.Contains(out, "__start_digest") {
		t.Errorf("completion bash is not a bash script: %.200s", out)
	}
}

func TestJSONOutputs(t *testing.T) {
	c := newCLI(t)
	c.must("subscribers", "add", "ada@example.com")
	file := c.writeFile("s.json", storiesJSON(time.Now()))
	parse := func(name, out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%s: not one JSON document: %v\n%s", name, err, out)
		}
	}
	var imp struct {
		File     string `json:"file"`
		Imported int    `json:"imported"`
	}
	parse("stories import", c.must("stories", "import", file, "--json"), &imp)
	if imp.Imported != 2 || imp.File != file {
		t.Errorf("stories import --json: %+v", imp)
	}

	var sec struct {
		Name       string `json:"name"`
		MaxStories int    `json:"max_stories"`
	}
	parse("sections set", c.must("sections", "set", "Economy", "--max", "5", "--json"), &sec)
	if sec.Name != "Economy" || sec.MaxStories != 5 {
		t.Errorf("sections set --json: %+v", sec)
	}

	var l struct {
		Name     string   `json:"name"`
		Title    string   `json:"title"`
		Sections []string `json:"sections"`
		NextRun  string   `json:"next_run"`
	}
	out, errs, code := c.run("lists", "create", "weekly", "--from", "w@example.com", "--sections", "Nowhere", "--json")
	if code != 0 {
		t.Fatalf("lists create --json: %d %s", code, errs)
	}
	parse("lists create", out, &l)
	if l.Name != "weekly" || l.NextRun == "" || !strings.Contains(errs, `no section is called "Nowhere"`) {
		t.Errorf("lists create --json: %+v, stderr %q", l, errs)
	}
	parse("lists update", c.must("lists", "update", "weekly", "--title", "The <Weekly>", "--json"), &l)
	if l.Title != "The <Weekly>" {
		t.Errorf("lists update --json: %+v", l)
	}

	var sum struct {
		List       string `json:"list"`
		Edition    int64  `json:"edition"`
		NothingNew bool   `json:"nothing_new"`
		Sent       int    `json:"sent"`
		Already    int    `json:"already_sent"`
	}
	out, errs, code = c.run("send", "--json")
	if code != 0 {
		t.Fatalf("send --json: %d %s", code, errs)
	}
	parse("send", out, &sum)
	if sum.List != "daily" || sum.Edition != 1 || sum.Sent != 1 || !strings.Contains(errs, "built edition 1") {
		t.Errorf("send --json: %+v; stderr %q", sum, errs)
	}
	parse("send again", c.must("send", "--json"), &sum)
	if sum.Sent != 0 || sum.Already != 1 {
		t.Errorf("second send --json: %+v", sum)
	}

	var s struct {
		Added int `json:"added"`
	}
	parse("subscribers import", c.must("subscribers", "import", c.writeFile("a.csv", "email\ngrace@example.com\n"), "--json"), &s)
	if s.Added != 1 {
		t.Errorf("subscribers import --json: %+v", s)
	}

	// Every listing: one array, one object per line, no \u003c. Each
	// has a row, so that the one-per-line check has something to check.
	c.must("feeds", "add", "https://feeds.example.com/a?x=1&y=<2>")
	c.must("tokens", "create", "cms")
	c.must("suppressions", "add", "gone@example.com", "--note", "asked <by mail>")
	for _, args := range [][]string{
		{"stories", "list", "--json"}, {"sections", "list", "--json"}, {"lists", "list", "--json"},
		{"subscribers", "list", "--json"}, {"deliveries", "--json"}, {"editions", "list", "--json"},
		{"feeds", "list", "--json"}, {"tokens", "list", "--json"}, {"suppressions", "list", "--json"},
	} {
		out := c.must(args...)
		var rows []map[string]any
		parse(strings.Join(args, " "), out, &rows)
		if len(rows) == 0 {
			t.Errorf("%v: no rows to check:\n%s", args, out)
		}
		for _, row := range rows {
			for k, v := range row {
				if v == nil || v == "0001-01-01T00:00:00Z" {
					t.Errorf("%v: field %s has no value and is not left out: %s", args, k, out)
				}
			}
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if lines[0] != "[" || lines[len(lines)-1] != "]" || len(lines) != len(rows)+2 {
			t.Errorf("%v: not one object per line:\n%s", args, out)
		}
		for _, line := range lines[1 : len(lines)-1] {
			if !strings.HasPrefix(line, "  {") {
				t.Errorf("%v: row %q not indented as the others", args, line)
			}
		}
		if strings.Contains(out, `\u003c`) || strings.Contains(out, `\u0026`) {
			t.Errorf("%v: HTML-escaped JSON: %s", args, out)
		}
	}
	if out := c.must("stories", "list", "--json"); !strings.Contains(out, "<script>") {
		t.Errorf("stories list --json does not keep < as it is: %s", out)
	}
}

// TestJSONSummariesOfChanges runs the editions, feeds, suppressions and
// bounces commands that change something with --json: each prints one
// indented JSON document on standard output, and the fields the README
// names.
func TestJSONSummariesOfChanges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(rssOf(time.Now(), "Harbour <reopens>")))
	}))
	defer srv.Close()
	c := newCLI(t)
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	c.must("lists", "create", "quiet", "--from", "q@example.com")
	c.must("send", "--list", "quiet") // no members: an edition nobody has
	doc := func(args ...string) map[string]any {
		t.Helper()
		out, errs, code := c.run(args...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: not one JSON document (exit %d, stderr %q): %v\n%s", args, code, errs, err, out)
		}
		if !strings.HasPrefix(out, "{\n  \"") || strings.Contains(out, `\u003c`) {
			t.Errorf("%v: not one indented document without HTML escapes:\n%s", args, out)
		}
		return v
	}
	want := func(name string, got map[string]any, fields map[string]any) {
		t.Helper()
		for k, v := range fields {
			if got[k] != v {
				t.Errorf("%s --json: %s = %v (%T), want %v; all: %v", name, k, got[k], got[k], v, got)
			}
		}
	}
	want("editions rebuild", doc("editions", "rebuild", "1", "--json"),
		map[string]any{"id": 1.0, "list": "quiet", "date": time.Now().UTC().Format(time.DateOnly), "stories": 2.0})
	want("editions discard", doc("editions", "discard", "1", "--json"), map[string]any{"id": 1.0, "list": "quiet", "stories": 2.0})

	want("feeds add", doc("feeds", "add", srv.URL+"/rss", "--allow-private", "--json"), map[string]any{"id": 1.0, "url": srv.URL + "/rss"})
	want("feeds update", doc("feeds", "update", "1", "--name", "Wire", "--json"), map[string]any{"id": 1.0, "name": "Wire"})
	out := c.must("feeds", "fetch", "--json")
	var fetched []map[string]any
	if err := json.Unmarshal([]byte(out), &fetched); err != nil || len(fetched) != 1 {
		t.Fatalf("feeds fetch --json: not one array of one result: %v\n%s", err, out)
	}
	want("feeds fetch", fetched[0], map[string]any{"id": 1.0, "name": "Wire", "status": 200.0, "new": 1.0})
	want("feeds remove", doc("feeds", "remove", "1", "--json"), map[string]any{"id": 1.0, "removed": true})

	want("suppressions add", doc("suppressions", "add", "gone@example.com", "--json"), map[string]any{"email": "gone@example.com", "reason": "manual", "added": true})
	want("suppressions add again", doc("suppressions", "add", "gone@example.com", "--json"), map[string]any{"added": false})
	want("suppressions remove", doc("suppressions", "remove", "gone@example.com", "--json"), map[string]any{"email": "gone@example.com", "removed": true})
	file := c.writeFile("sup.txt", "a@example.com\nnot an address\n")
	want("suppressions import", doc("suppressions", "import", file, "--json"), map[string]any{"file": file, "added": 1.0, "already": 0.0, "rejected": 1.0})

	eml, err := filepath.Abs(filepath.Join("..", "..", "bounces", "testdata", "postfix-hard.eml"))
	if err != nil {
		t.Fatal(err)
	}
	got := doc("bounces", "process", eml, "--json")
	want("bounces process", got, map[string]any{"processed": 1.0, "changed": 0.0, "left": 1.0})
	if msgs, _ := got["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["file"] != eml {
		t.Errorf("bounces process --json: messages %v", got["messages"])
	}
}

func TestMessagesAPersonReads(t *testing.T) {
	c := newSendingCLI(t)
	c.must("lists", "create", "weekly", "--from", "w@example.com")
	if out := c.must("subscribers", "add", "ada@example.com"); out != "subscriber ada@example.com added to daily\n" {
		t.Errorf("new subscriber: %q", out)
	}
	if out := c.must("subscribers", "add", "ada@example.com"); out != "ada@example.com is already on daily\n" {
		t.Errorf("existing member: %q", out)
	}
	c.must("subscribers", "unsubscribe", "ada@example.com", "--list", "daily")
	out := c.must("subscribers", "add", "ada@example.com", "--list", "daily", "--list", "weekly")
	if strings.Contains(out, "added to daily") || !strings.Contains(out, "ada@example.com is unsubscribed on daily and stays so") ||
		!strings.Contains(out, "existing subscriber ada@example.com added to weekly") {
		t.Errorf("unsubscribed member: %q", out)
	}

	// A relay that cannot be reached: the error, and no empty summary.
	c.must("stories", "add", "--section", "World", "--title", "Hello", "--url", "https://news.example.com/hello")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	out, errs, code := c.run("send", "--smtp", "smtp://"+dead+"?tls=none")
	if code != 1 || strings.Contains(out, "sent 0") || strings.Count(errs, "\n") != 1 {
		t.Errorf("unreachable relay: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	// Plural forms.
	if out := c.must("stories", "import", c.writeFile("one.json", `[{"section":"World","title":"One","url":"https://news.example.com/one"}]`)); !strings.Contains(out, "imported 1 story from") {
		t.Errorf("import of one story: %q", out)
	}
	if out := c.must("subscribers", "import", c.writeFile("dup.csv", "email\ngrace@example.com\nGrace@example.com\n")); !strings.Contains(out, "1 row repeated an earlier address of the file and was merged into it") {
		t.Errorf("one duplicate row: %q", out)
	}
	c.must("send", "--force")
	if out := c.must("deliveries", "--list", "weekly"); !strings.Contains(out, "no deliveries match") {
		t.Errorf("deliveries: %q", out)
	}
	if out := c.must("deliveries", "--status", "sent"); !strings.Contains(out, "1 delivery: 1 sent") {
		t.Errorf("one delivery: %q", out)
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		noun string
		want string
	}{
		{0, "delivery", "0 deliveries"}, {1, "delivery", "1 delivery"}, {2, "story", "2 stories"},
		{1, "row", "1 row"}, {3, "row", "3 rows"}, {2, "day", "2 days"}, {2, "address", "2 addresses"},
		{1, "temporary failure", "1 temporary failure"}, {4, "temporary failure", "4 temporary failures"},
	}
	for _, tt := range tests {
		if got := plural(tt.n, tt.noun); got != tt.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "70e1ff7a3b2c4d5e6f708192a3b4c5d6e7f80912"},
		{Key: "vcs.time", Value: "2026-11-28T01:21:34Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	want := "v1.4.0, commit 70e1ff7a3b2c with local changes, built from a commit of 2026-11-28T01:21:34Z, go1.26.0"
	if got := versionLine(info, true); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := versionLine(&debug.BuildInfo{GoVersion: "go1.26.0"}, true); got != "(devel), commit unknown, go1.26.0" {
		t.Errorf("without VCS: %q", got)
	}
	c := newCLI(t)
	out, errs, code := c.run("--version")
	if code != 0 || !strings.HasPrefix(out, "digest ") || !strings.Contains(out, runtimeGoVersion()) || errs != "" {
		t.Errorf("--version: exit %d, %q, %q", code, out, errs)
	}
}

func runtimeGoVersion() string {
	info, _ := debug.ReadBuildInfo()
	return info.GoVersion
}

// TestSuppressionWriteFailureIsARuntimeError: a store that refuses the
// write is not the caller's mistake: exit 1 and no pointer to the help,
// while a bad address stays a usage error.
func TestSuppressionWriteFailureIsARuntimeError(t *testing.T) {
	c := newCLI(t)
	c.must("suppressions", "add", "kept@example.com")
	db, _ := c.openStore()
	for _, trig := range []string{
		`CREATE TRIGGER refuse_insert BEFORE INSERT ON suppressions BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
		`CREATE TRIGGER refuse_delete BEFORE DELETE ON suppressions BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
	} {
		if _, err := db.ExecContext(context.Background(), trig); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"suppressions", "add", "new@example.com"}, {"suppressions", "remove", "kept@example.com"}} {
		_, errs, code := c.run(args...)
		if code != exitRuntime || !strings.Contains(errs, "disk says no") || strings.Contains(errs, "--help") {
			t.Errorf("%v: exit %d, stderr %q; want 1 with the store's error", args, code, errs)
		}
	}
	if _, errs, code := c.run("suppressions", "remove", "kept@"); code != exitUsage {
		t.Errorf("bad address: exit %d, %q", code, errs)
	}
}
