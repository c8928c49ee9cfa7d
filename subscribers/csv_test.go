package subscribers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/newsroom/digest/subscribers"
)

// importString imports body into the list and returns the summary and
// the reports.
func importString(t *testing.T, s *subscribers.Store, body string, opt subscribers.ImportOptions) (subscribers.ImportSummary, []subscribers.RowReport, error) {
	t.Helper()
	var reports []subscribers.RowReport
	opt.Report = func(r subscribers.RowReport) { reports = append(reports, r) }
	sum, err := s.Import(context.Background(), strings.NewReader(body), opt)
	return sum, reports, err
}

func members(t *testing.T, s *subscribers.Store, list string) string {
	t.Helper()
	var rows []string
	err := s.EachMember(context.Background(), subscribers.Filter{List: list}, func(m subscribers.Member) error {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", m.Email, m.Name, m.Status, m.Attributes))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(rows, "\n")
}

func counts(s subscribers.ImportSummary) string {
	return fmt.Sprintf("added %d, updated %d, unchanged %d, skipped %d, rejected %d, duplicates %d",
		s.Added, s.Updated, s.Unchanged, s.Skipped, s.Rejected, s.Duplicates)
}

func TestImportTrickyRows(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		members string
		counts  string
		reports string // "line:kind" of each report
	}{
		{
			name: "duplicates by case and padding merge, later non-empty values win",
			body: "email,name,city\n" +
				"  Ada@Example.COM  ,  Ada  ,London\n" +
				"ada@example.com,,Paris\n" +
				"ADA@EXAMPLE.COM,Ada Lovelace,\n",
			members: `Ada@example.com|Ada Lovelace|active|{"city":"Paris"}`,
			counts:  "added 1, updated 2, unchanged 0, skipped 0, rejected 0, duplicates 2",
			reports: "3:duplicate 4:duplicate",
		},
		{
			name:    "BOM and semicolons",
			body:    "\ufeffEmail;Name\r\nbob@example.com;Bob\r\ncarol@example.com;Carol, the First\r\n",
			members: "bob@example.com|Bob|active|{}\ncarol@example.com|Carol, the First|active|{}",
			counts:  "added 2, updated 0, unchanged 0, skipped 0, rejected 0, duplicates 0",
		},
		{
			name: "quoted fields with commas, quotes and newlines",
			body: "email,name,note\n" +
				"dan@example.com,\"Smith, Dan \"\"the man\"\"\",\"line one\nline two, still\"\n" +
				"\"eve@example.com\",\"Eve\r\nBcc: victim@example.net\",\n" +
				"bad address,x,\n",
			members: "dan@example.com|Smith, Dan \"the man\"|active|{\"note\":\"line one\\nline two, still\"}\n" +
				"eve@example.com|Eve Bcc: victim@example.net|active|{}",
			counts:  "added 2, updated 0, unchanged 0, skipped 0, rejected 1, duplicates 0",
			reports: "6:rejected",
		},
		{
			name:    "tab separated, Excel sep= line, only an email column",
			body:    "sep=\t\nemail\tplan\nfay@example.com\tpro\n",
			members: `fay@example.com||active|{"plan":"pro"}`,
			counts:  "added 1, updated 0, unchanged 0, skipped 0, rejected 0, duplicates 0",
		},
		{
			name: "bad rows are rejected with their line, blank rows ignored",
			body: "email,name\n" +
				"ok@example.com,OK\n" +
				",,\n" +
				"two@@example.com,X\n" +
				"no-domain@,X\n" +
				"spaces in@example.com,X\n" +
				strings.Repeat("l", 250) + "@example.com,Long\n" +
				"extra@example.com,X,surplus\n" +
				"trailing@example.com,T,,\n",
			members: "ok@example.com|OK|active|{}\ntrailing@example.com|T|active|{}",
			counts:  "added 2, updated 0, unchanged 0, skipped 0, rejected 5, duplicates 0",
			reports: "4:rejected 5:rejected 6:rejected 7:rejected 8:rejected",
		},
		{
			name:    "internationalised domains merge in either form",
			body:    "email\nzoe@Bücher.example\nzoe@xn--bcher-kva.example\n",
			members: "zoe@bücher.example||active|{}",
			counts:  "added 1, updated 0, unchanged 1, skipped 0, rejected 0, duplicates 1",
			reports: "3:duplicate",
		},
		{
			name:    "status column",
			body:    "email,status\ngone@example.com,Unsubscribed\nbounce@example.com,bounced\nhere@example.com,\nodd@example.com,enabled\n",
			members: "gone@example.com||unsubscribed|{}\nbounce@example.com||bounced|{}\nhere@example.com||active|{}",
			counts:  "added 3, updated 0, unchanged 0, skipped 0, rejected 1, duplicates 0",
			reports: "5:rejected",
		},
		{
			name:    "header only",
			body:    "email,name\n",
			members: "",
			counts:  "added 0, updated 0, unchanged 0, skipped 0, rejected 0, duplicates 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			sum, reports, err := importString(t, s, tt.body, subscribers.ImportOptions{BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got := counts(sum); got != tt.counts {
				t.Errorf("counts: %s\n          want %s", got, tt.counts)
			}
			var rs []string
			for _, r := range reports {
				rs = append(rs, fmt.Sprintf("%d:%s", r.Line, r.Kind))
				if r.Reason == "" || strings.ContainsAny(r.Reason, "\r\n") {
					t.Errorf("line %d: reason %q is not one line", r.Line, r.Reason)
				}
			}
			if got := strings.Join(rs, " "); got != tt.reports {
				t.Errorf("reports: %s (%+v)\n     want %s", got, reports, tt.reports)
			}
			if got := members(t, s, "daily"); got != tt.members {
				t.Errorf("members:\n%s\nwant:\n%s", got, tt.members)
			}
		})
	}
}

func TestImportRejectsBinaryRowsPastTheStart(t *testing.T) {
	// The first 8 KiB decide whether the file is text; later rows are
	// checked one by one.
	s := openStore(t)
	var body strings.Builder
	body.WriteString("email,name\n")
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&body, "user%03d@example.com,User\n", i)
	}
	body.WriteString("bin@example.com,\x00\x01\nlatin@example.com,Caf\xe9\nlast@example.com,Last\n")
	sum, reports, err := importString(t, s, body.String(), subscribers.ImportOptions{})
	if err != nil || sum.Added != 401 || sum.Rejected != 2 {
		t.Fatalf("%s, %v", counts(sum), err)
	}
	if len(reports) != 2 || reports[0].Line != 402 || reports[1].Line != 403 || !strings.Contains(reports[1].Reason, "not UTF-8") {
		t.Fatalf("reports %+v", reports)
	}
}

func TestImportRejectionReasons(t *testing.T) {
	s := openStore(t)
	_, reports, err := importString(t, s, "email\nnot an email\na@b@example.com\nnodomain@\n"+strings.Repeat("x", 250)+"@example.com\n", subscribers.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"white space", "exactly one @", "no domain", "limit is 254"}
	if len(reports) != len(want) {
		t.Fatalf("reports %+v", reports)
	}
	for i, r := range reports {
		if r.Line != i+2 || !strings.Contains(r.Reason, want[i]) {
			t.Errorf("report %+v, want line %d about %q", r, i+2, want[i])
		}
	}
}

func TestImportRefusesFilesItCannotRead(t *testing.T) {
	tests := []struct {
		name, body, reason string
	}{
		{"empty file", "", "empty"},
		{"only blank lines", "\n\r\n  \n", "empty"},
		{"only a BOM", "\ufeff", "empty"},
		{"no email column", "name,city\nAda,London\n", "no email column"},
		{"data without a header", "ada@example.com,Ada\n", "no email column"},
		{"email column twice", "email,Email\na@example.com,b@example.com\n", "twice"},
		{"binary file", "\x00\x01\x02\x03binary\xff\xfe data", "binary"},
		{"xlsx workbook", "PK\x03\x04\x14\x00\x06\x00", "spreadsheet"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00", "gzip"},
		{"latin-1 text", "email,name\nfr@example.com,Fran\xe7ois\n", "not UTF-8"},
		{"utf-16", "\xff\xfee\x00m\x00", "UTF-16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			_, _, err := importString(t, s, tt.body, subscribers.ImportOptions{})
			if !errors.Is(err, subscribers.ErrBadCSV) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v, want ErrBadCSV about %q", err, tt.reason)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM subscribers`); n != 0 {
				t.Fatalf("%d subscribers written", n)
			}
		})
	}
	s := openStore(t)
	if _, _, err := importString(t, s, "email\na@example.com\n", subscribers.ImportOptions{List: "nope"}); !errors.Is(err, subscribers.ErrUnknownList) {
		t.Fatalf("unknown list: %v", err)
	}
}

func TestImportNeverResubscribesWithoutBeingAsked(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	s.Add(ctx, "gone@example.com", "Gone", "daily")
	s.Add(ctx, "here@example.com", "Here", "daily")
	s.Unsubscribe(ctx, "gone@example.com", "daily")
	body := "email,name\nGONE@example.com,New Name\nhere@example.com,Here\n"

	sum, reports, err := importString(t, s, body, subscribers.ImportOptions{})
	if err != nil || counts(sum) != "added 0, updated 0, unchanged 1, skipped 1, rejected 0, duplicates 0" {
		t.Fatalf("%s, %v", counts(sum), err)
	}
	if len(reports) != 1 || reports[0].Kind != subscribers.RowSkipped || !strings.Contains(reports[0].Reason, "--resubscribe") {
		t.Fatalf("reports %+v", reports)
	}
	if got := members(t, s, "daily"); got != "gone@example.com|Gone|unsubscribed|{}\nhere@example.com|Here|active|{}" {
		t.Fatalf("a skipped row changed something:\n%s", got)
	}

	sum, _, err = importString(t, s, body, subscribers.ImportOptions{Resubscribe: true})
	if err != nil || counts(sum) != "added 0, updated 1, unchanged 1, skipped 0, rejected 0, duplicates 0" {
		t.Fatalf("--resubscribe: %s, %v", counts(sum), err)
	}
	if got := members(t, s, "daily"); got != "gone@example.com|New Name|active|{}\nhere@example.com|Here|active|{}" {
		t.Fatalf("after --resubscribe:\n%s", got)
	}
}

func TestImportDryRunWritesNothingAndCountsTheSame(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	s.Add(ctx, "old@example.com", "Old", "daily")
	s.Add(ctx, "quit@example.com", "", "daily")
	s.Unsubscribe(ctx, "quit@example.com", "")
	before := members(t, s, "daily")
	body := "email,name,team\nold@example.com,Old,red\nnew@example.com,New,\nNEW@example.com,,blue\nquit@example.com,,\nbad,,\n"

	dry, _, err := importString(t, s, body, subscribers.ImportOptions{DryRun: true, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := members(t, s, "daily"); got != before {
		t.Fatalf("dry run wrote:\n%s", got)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM subscribers`); n != 2 {
		t.Fatalf("dry run left %d subscribers", n)
	}
	real, _, err := importString(t, s, body, subscribers.ImportOptions{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if counts(dry) != counts(real) || counts(real) != "added 1, updated 2, unchanged 0, skipped 1, rejected 1, duplicates 1" {
		t.Fatalf("dry run %s, real %s", counts(dry), counts(real))
	}
}

func TestImportDoesNotBreakAtBatchEdges(t *testing.T) {
	var body strings.Builder
	body.WriteString("email,name\n")
	for i := 0; i < 25; i++ {
		fmt.Fprintf(&body, "user%d@example.com,User %d\n", i%20, i)
	}
	for _, batch := range []int{1, 3, 20, 1000} {
		s := openStore(t)
		sum, _, err := importString(t, s, body.String(), subscribers.ImportOptions{BatchSize: batch})
		if err != nil || counts(sum) != "added 20, updated 5, unchanged 0, skipped 0, rejected 0, duplicates 5" || sum.LastLine != 26 {
			t.Fatalf("batch %d: %s, last line %d, %v", batch, counts(sum), sum.LastLine, err)
		}
	}
}

// cancelAfter cancels a context once n bytes have been read through it,
// as Ctrl-C would in the middle of a file.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if len(p) > 512 {
		p = p[:512] // small reads, so the cancel lands mid-file
	}
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestInterruptedImportLeavesWholeRowsAndResumes(t *testing.T) {
	s := openStore(t)
	const rows = 3000
	var body bytes.Buffer
	body.WriteString("email,name,n\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&body, "person%05d@example.com,Person %d,%d\n", i, i, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &cancelAfter{r: bytes.NewReader(body.Bytes()), n: body.Len() / 2, cancel: cancel}
	sum, err := s.Import(ctx, in, subscribers.ImportOptions{BatchSize: 100})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import returned %v", err)
	}
	stored := count(t, s, `SELECT COUNT(*) FROM subscribers`)
	if stored == 0 || stored == rows || stored%100 != 0 || stored != sum.Added || sum.LastLine != stored+1 {
		t.Fatalf("after the interrupt: %d stored, summary %s through line %d; want whole batches of 100 matching the summary", stored, counts(sum), sum.LastLine)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM memberships`); n != stored {
		t.Fatalf("%d subscribers but %d memberships: a row was half written", stored, n)
	}

	sum, err = s.Import(context.Background(), bytes.NewReader(body.Bytes()), subscribers.ImportOptions{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != rows-stored || sum.Unchanged != stored || sum.Updated != 0 {
		t.Fatalf("rerun: %s, want %d added and %d unchanged", counts(sum), rows-stored, stored)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM subscribers`); n != rows {
		t.Fatalf("%d subscribers after the rerun, want %d", n, rows)
	}
}

func TestImportStopsOnAQuoteNeverClosed(t *testing.T) {
	s := openStore(t)
	body := "email,name\nfirst@example.com,First\nsecond@example.com,\"never closed\n" + strings.Repeat("more text, on and on\n", 60000)
	sum, _, err := importString(t, s, body, subscribers.ImportOptions{BatchSize: 1})
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "never closed") {
		t.Fatalf("got %v", err)
	}
	if sum.Added != 1 || members(t, s, "daily") != "first@example.com|First|active|{}" {
		t.Fatalf("summary %s, members %s", counts(sum), members(t, s, "daily"))
	}
}

func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openStore(t)
	body := "email,name,status,city,zip code,note\n" +
		"ada@example.com,Ada Lovelace,,London,,\n" +
		"bob@Bücher.example,\"Smith, Bob\",unsubscribed,,12345,\"two\nlines, \"\"quoted\"\"\"\n" +
		"eve@example.com,\"Eve\r\nBcc: x@y\",bounced,=1+2,,\n" +
		"zoë@example.com,Zoë,,Zürich,8000,\n"
	if _, _, err := importString(t, src, body, subscribers.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// Attributes set by other means: non-string values and a key import
	// would read as a column of its own.
	if _, err := src.DB.ExecContext(ctx, `UPDATE subscribers SET attributes = json_set(attributes, '$.score', 7, '$.tags', json('["a","b"]'), '$.Email', 'x')
		WHERE email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	src.Add(ctx, "other-list@example.com", "", "daily")
	src.Remove(ctx, "other-list@example.com")

	var first bytes.Buffer
	n, err := src.Export(ctx, &first, subscribers.Filter{})
	if err != nil || n != 4 {
		t.Fatalf("export: %d rows, %v", n, err)
	}
	wantFirst := "email,name,status,city,note,score,tags,zip code\n" +
		"ada@example.com,Ada Lovelace,active,London,,7,\"[\"\"a\"\",\"\"b\"\"]\",\n" +
		"bob@bücher.example,\"Smith, Bob\",unsubscribed,,\"two\nlines, \"\"quoted\"\"\",,,12345\n" +
		"eve@example.com,Eve Bcc: x@y,bounced,=1+2,,,,\n" +
		"zoë@example.com,Zoë,active,Zürich,,,,8000\n"
	if first.String() != wantFirst {
		t.Fatalf("export:\n%s\nwant:\n%s", first.String(), wantFirst)
	}

	dst := openStore(t)
	sum, reports, err := importString(t, dst, first.String(), subscribers.ImportOptions{})
	if err != nil || sum.Added != 4 || len(reports) != 0 {
		t.Fatalf("import of the export: %s %+v %v", counts(sum), reports, err)
	}
	var second bytes.Buffer
	if _, err := dst.Export(ctx, &second, subscribers.Filter{}); err != nil {
		t.Fatal(err)
	}
	if second.String() != first.String() {
		t.Fatalf("round trip changed the file:\n%s\nthen:\n%s", first.String(), second.String())
	}

	var active bytes.Buffer
	if _, err := src.Export(ctx, &active, subscribers.Filter{Status: "active"}); err != nil {
		t.Fatal(err)
	}
	if got := active.String(); strings.Contains(got, "bob@") || strings.Contains(got, "eve@") || !strings.Contains(got, "zoë@") {
		t.Fatalf("--status active:\n%s", got)
	}
}

func TestImportGivesEveryoneTheirOwnRandomToken(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	// Long local parts: a random token contains a 3-letter name (case
	// folded) by chance about once in 800 tokens.
	emails := []string{"adalovelace@example.com", "bartholomew@example.com", "carolina.reyes@example.com"}
	if _, _, err := importString(t, s, "email\n"+strings.Join(emails, "\n")+"\n", subscribers.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, email := range emails {
		sub, err := s.Get(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		local := strings.SplitN(email, "@", 2)[0]
		if len(sub.Token) < 40 || seen[sub.Token] || strings.Contains(strings.ToLower(sub.Token), local) {
			t.Errorf("%s: token %q is short, shared or made from the address", email, sub.Token)
		}
		seen[sub.Token] = true
	}
}

// A dry run holds no write lock: while it runs (here: in the middle of
// the file, when it reports a rejected row), another connection writes at
// once, and the counts still match a real import's.
func TestImportDryRunLetsWritersThrough(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var body strings.Builder
	body.WriteString("email,name\n")
	for i := range 600 {
		if i == 400 {
			body.WriteString("not-an-address,\n")
		}
		fmt.Fprintf(&body, "user%d@example.com,User %d\n", i%500, i)
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A short busy timeout: were the dry run holding the lock, the write
	// would fail after 100 ms instead of waiting 10 s.
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 100`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `PRAGMA busy_timeout = 10000`)
	var writeErr error
	wrote := false
	opt := subscribers.ImportOptions{DryRun: true, Report: func(r subscribers.RowReport) {
		if r.Kind == subscribers.RowRejected {
			wrote = true
			_, writeErr = conn.ExecContext(ctx, `UPDATE lists SET updated_at = updated_at + 1 WHERE name = 'daily'`)
		}
	}}
	dry, err := s.Import(ctx, strings.NewReader(body.String()), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !wrote || writeErr != nil {
		t.Fatalf("a write during the dry run (tried %v): %v", wrote, writeErr)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM subscribers`); n != 0 {
		t.Fatalf("the dry run stored %d subscribers", n)
	}
	real, _, err := importString(t, s, body.String(), subscribers.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if counts(dry) != counts(real) || counts(real) != "added 500, updated 100, unchanged 0, skipped 0, rejected 1, duplicates 100" {
		t.Fatalf("dry run %s, real %s", counts(dry), counts(real))
	}
}
