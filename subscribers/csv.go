package subscribers

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/newsroom/digest/store"
)

// CSV columns with a meaning of their own; every other column is kept as
// an attribute. Export writes them in this order, then the attributes in
// byte order of their names.
const (
	ColEmail  = "email"
	ColName   = "name"
	ColStatus = "status"
)

// DefaultBatchSize is how many rows an import commits per transaction:
// large enough that commits cost little, small enough that an interrupted
// import loses seconds of work, not minutes.
const DefaultBatchSize = 5000

// maxRecordBytes bounds one CSV record, so that a quote never closed
// cannot pull the rest of a large file into memory as one field.
const maxRecordBytes = 1 << 20

// ErrBadCSV reports a file that cannot be imported at all; nothing was
// written.
var ErrBadCSV = errors.New("cannot import")

// ImportOptions say where and how rows are imported.
type ImportOptions struct {
	// List is the list every row joins (default DefaultList).
	List string
	// DryRun reads and checks everything and writes nothing.
	DryRun bool
	// Resubscribe makes rows re-activate people who unsubscribed or
	// bounced; without it they are skipped.
	Resubscribe bool
	// BatchSize is the number of rows per transaction (default
	// DefaultBatchSize).
	BatchSize int
	// Report, when set, is called for every row that was rejected,
	// skipped or merged into an earlier row of the file.
	Report func(RowReport)
	// Confirm, when set, is called for every row that would make an
	// address active on the list without its consent on record (import
	// --confirm): the row is not written, and the caller sends the person
	// a confirmation instead. It is called after the row's batch commits.
	Confirm func(email, name string)
}

// What happened to a reported row.
const (
	RowRejected  = "rejected"
	RowSkipped   = "skipped"
	RowDuplicate = "duplicate"
)

// RowReport tells why one row was not imported as it stood.
type RowReport struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Email  string `json:"email,omitempty"`
	Reason string `json:"reason"`
}

// ImportSummary counts the rows of an import. Every data row is counted
// once in Added (new subscriber, or new on the list), Updated (name,
// attributes or status changed), Unchanged, Skipped (unsubscribed or
// bounced, and not re-subscribed) or Rejected (bad row). Duplicates
// counts rows whose address appeared earlier in the file; they are
// merged into it and also counted in one of the others.
type ImportSummary struct {
	List       string `json:"list"`
	DryRun     bool   `json:"dry_run"`
	Rows       int    `json:"rows"`
	Added      int    `json:"added"`
	Updated    int    `json:"updated"`
	Unchanged  int    `json:"unchanged"`
	Skipped    int    `json:"skipped"`
	Rejected   int    `json:"rejected"`
	Duplicates int    `json:"duplicates"`
	// Pending counts rows left to a confirmation mail (import --confirm).
	Pending int `json:"pending,omitempty"`
	// LastLine is the last line whose row is committed (or would be, in
	// a dry run).
	LastLine int `json:"last_line"`
}

func (a *ImportSummary) addCounts(b ImportSummary) {
	a.Rows += b.Rows
	a.Added += b.Added
	a.Updated += b.Updated
	a.Unchanged += b.Unchanged
	a.Skipped += b.Skipped
	a.Pending += b.Pending
	a.Rejected += b.Rejected
	a.Duplicates += b.Duplicates
	if b.LastLine > 0 {
		a.LastLine = b.LastLine
	}
}

// csvHeader is what the header row says about the columns.
type csvHeader struct {
	email, name, status int // column index, -1 when absent
	attrs               []attrColumn
	width               int
}

type attrColumn struct {
	index int
	key   string
}

// csvSource reads a subscriber CSV as a stream: BOM stripped, delimiter
// sniffed from the header line, records bounded in size.
type csvSource struct {
	r      *csv.Reader
	guard  *guardReader
	header csvHeader
	offset int // lines before the csv reader's first line (a sep= line)
}

// guardReader fails once more than allow bytes have been read, which the
// importer moves forward after every record.
type guardReader struct {
	r     io.Reader
	n     int64
	allow int64
}

var errRecordTooLong = errors.New("record too long")

func (g *guardReader) Read(p []byte) (int, error) {
	if g.n > g.allow {
		return 0, errRecordTooLong
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}

func badCSV(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadCSV}, args...)...)
}

func openCSV(in io.Reader) (*csvSource, error) {
	g := &guardReader{r: in, allow: maxRecordBytes}
	br := bufio.NewReaderSize(g, 64<<10)
	head, err := br.Peek(8 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		br.Discard(3)
		head = head[3:]
	case bytes.HasPrefix(head, []byte("\xFF\xFE")), bytes.HasPrefix(head, []byte("\xFE\xFF")):
		return nil, badCSV("the file is UTF-16 text: save it as CSV UTF-8")
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, badCSV("the file is empty: its first line must name the columns, like email,name")
	}
	if kind := binaryKind(head); kind != "" {
		return nil, badCSV("the file is %s, not CSV text: save it as CSV UTF-8 (comma or semicolon separated)", kind)
	}
	src := &csvSource{guard: g}
	comma := ','
	first, _, _ := bytes.Cut(head, []byte("\n"))
	first = bytes.TrimRight(first, "\r")
	if len(first) == 5 && strings.EqualFold(string(first[:4]), "sep=") {
		// Excel's hint line names the delimiter.
		comma = rune(first[4])
		br.Discard(len(first))
		src.offset = 1
	} else {
		comma = sniffDelimiter(first)
	}
	r := csv.NewReader(br) // reuses br: it is a large enough *bufio.Reader
	r.Comma = comma
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	src.r = r
	rec, err := src.next()
	if errors.Is(err, io.EOF) {
		return nil, badCSV("the file is empty: its first line must name the columns, like email,name")
	}
	if err != nil {
		return nil, badCSV("header: %v", err)
	}
	if src.header, err = parseHeader(rec); err != nil {
		return nil, err
	}
	return src, nil
}

// binaryKind names what a file that is not UTF-8 text seems to be.
func binaryKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive (an .xlsx or .ods spreadsheet?)"
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return "gzip-compressed"
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0")):
		return "an old Excel (.xls) workbook"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "a PDF"
	case bytes.IndexByte(head, 0) >= 0:
		return "binary data"
	}
	// The peeked window may end inside a character.
	for cut := 0; cut < utf8.UTFMax && cut < len(head); cut++ {
		if utf8.Valid(head[:len(head)-cut]) {
			return ""
		}
	}
	return "not UTF-8 text (Latin-1 or Windows-1252?)"
}

// sniffDelimiter picks the separator that occurs most often, outside
// quotes, in the header line: comma, semicolon or tab.
func sniffDelimiter(line []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return rune(best)
}

func parseHeader(rec []string) (csvHeader, error) {
	h := csvHeader{email: -1, name: -1, status: -1, width: len(rec)}
	seen := map[string]bool{}
	for i, cell := range rec {
		key := strings.TrimSpace(cell)
		if key == "" {
			continue // spreadsheets add empty trailing columns
		}
		if hasControl(key) || !utf8.ValidString(key) {
			return h, badCSV("column %d of the header has a control character or invalid text", i+1)
		}
		var slot *int
		switch strings.ToLower(key) {
		case "email", "e-mail", "email address", "email_address":
			slot = &h.email
		case ColName:
			slot = &h.name
		case ColStatus:
			slot = &h.status
		}
		if slot != nil && *slot >= 0 || seen[key] {
			return h, badCSV("the header names column %q twice: keep one", clip(key))
		}
		seen[key] = true
		if slot != nil {
			*slot = i
		} else {
			h.attrs = append(h.attrs, attrColumn{index: i, key: key})
		}
	}
	if h.email < 0 {
		names := CleanName(strings.Join(rec, ", ")) // a quoted cell may hold a line break
		return h, badCSV("no email column (the header has: %s): the first line must name the columns, like email,name", clip(names))
	}
	return h, nil
}

// next reads one record and lets the guard allow one more.
func (s *csvSource) next() ([]string, error) {
	rec, err := s.r.Read()
	if errors.Is(err, errRecordTooLong) {
		line, _ := s.r.FieldPos(0)
		return nil, fmt.Errorf("line %d: a record runs on for more than %d bytes: a quote is probably never closed", line+s.offset, maxRecordBytes)
	}
	s.guard.allow = s.guard.n + maxRecordBytes
	return rec, err
}

// row is one parsed data row.
type row struct {
	line   int
	email  string
	name   string
	status string
	attrs  map[string]string
}

// parse checks a record; a non-empty reason rejects it. blank rows (all
// cells empty) are ignored.
func (s *csvSource) parse(rec []string) (r row, blank bool, reason string) {
	r.line, _ = s.r.FieldPos(0)
	r.line += s.offset
	h := s.header
	blank = true
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			blank = false
			break
		}
	}
	if blank {
		return r, true, ""
	}
	cell := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	r.email = cell(h.email)
	for i := h.width; i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			return r, false, fmt.Sprintf("has %d fields but the header names %d: quote fields that contain the delimiter", len(rec), h.width)
		}
	}
	for _, c := range rec {
		if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 {
			return r, false, "contains binary data or text that is not UTF-8"
		}
	}
	addr, err := NormalizeAddress(r.email)
	if err != nil {
		return r, false, err.Error()
	}
	r.email = addr
	r.name = CleanName(cell(h.name))
	r.status = strings.ToLower(cell(h.status))
	if r.status == "" {
		r.status = StatusActive
	} else if !ValidStatus(r.status) {
		return r, false, fmt.Sprintf("status %q: use active, unsubscribed or bounced", clip(r.status))
	}
	for _, a := range h.attrs {
		if v := cell(a.index); v != "" {
			if r.attrs == nil {
				r.attrs = map[string]string{}
			}
			r.attrs[a.key] = v
		}
	}
	return r, false, ""
}

// foldKey is the address as the store compares it: the email column is
// COLLATE NOCASE, which folds ASCII letters only.
func foldKey(addr string) string {
	b := []byte(addr)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Import reads subscribers from CSV and puts them on the list. The first
// line names the columns: email (required), name, status (active,
// unsubscribed or bounced; default active) and any others, kept as
// attributes. The file is read as a stream and committed every BatchSize
// rows, so an interrupted import leaves whole rows only and running it
// again finishes it without duplicates. Addresses are merged with the
// store and with earlier rows case-insensitively; a later row's
// non-empty values win. A bad row is rejected and reported, not fatal; a
// file that is empty, binary or has no email column is refused before
// anything is written (ErrBadCSV). The summary counts the committed rows
// even when an error stops the import.
func (s *Store) Import(ctx context.Context, in io.Reader, opt ImportOptions) (ImportSummary, error) {
	if opt.List == "" {
		opt.List = DefaultList
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	total := ImportSummary{List: opt.List, DryRun: opt.DryRun}
	list, err := s.GetList(ctx, opt.List)
	if err != nil {
		return total, err
	}
	src, err := openCSV(in)
	if err != nil {
		return total, err
	}
	report := opt.Report
	if report == nil {
		report = func(RowReport) {}
	}
	// A page cache larger than the default 2 MB keeps the random inserts
	// into the token index from spilling to the log mid-transaction: it
	// halves the system time of a large import for 14 MB more memory.
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return total, fmt.Errorf("import: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -16384`); err != nil {
		return total, fmt.Errorf("import: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
	im := &importer{conn: conn, list: list, opt: opt, report: report, seen: map[uint64]int{}, now: s.now().Unix(), seed: maphash.MakeSeed()}
	if im.suppressed, err = s.suppressedSet(ctx); err != nil {
		return total, fmt.Errorf("import: %w", err)
	}
	if opt.DryRun {
		if err := im.startDry(ctx); err != nil {
			return total, fmt.Errorf("import: %w", err)
		}
		defer im.endDry(context.WithoutCancel(ctx))
	}
	for {
		batch, done, err := im.batch(ctx, src)
		if err != nil {
			return total, err
		}
		total.addCounts(batch)
		if done {
			return total, nil
		}
	}
}

type importer struct {
	conn   *sql.Conn
	list   List
	opt    ImportOptions
	report func(RowReport)
	// seen maps the hash of each folded address to its first line, so
	// that repeats are reported: 64-bit hashes keep the memory at a few
	// MB per 100,000 addresses (a collision, at odds of about 1 in 10^8
	// for a million rows, would only mislabel a report: the merge itself
	// goes through the store).
	seen map[uint64]int
	seed maphash.Seed
	now  int64
	// suppressed holds the suppression list (folded): a row that would
	// make one of them active is rejected.
	suppressed map[string]bool

	chunk []parsedRow
	// confirm holds the batch's rows left to a confirmation mail.
	confirm [][2]string
}

// chunkSize is how many rows share one lookup and one multi-row insert:
// per-statement overhead, not SQLite's work, dominates row by row.
const chunkSize = 256

// parsedRow is a record waiting in the chunk, or its rejection.
type parsedRow struct {
	row
	reject string
}

// batch imports rows in one transaction until BatchSize rows are done
// (or, in a dry run, the whole file, with no transaction at all).
func (im *importer) batch(ctx context.Context, src *csvSource) (sum ImportSummary, done bool, err error) {
	var q store.Querier = im.conn
	var tx *sql.Tx
	if !im.opt.DryRun {
		if tx, err = im.conn.BeginTx(ctx, nil); err != nil {
			return sum, false, fmt.Errorf("import: %w", err)
		}
		defer tx.Rollback()
		q = tx
	}
	n := 0
	for im.opt.DryRun || n < im.opt.BatchSize {
		if err := ctx.Err(); err != nil {
			return sum, false, fmt.Errorf("import interrupted: %w", err)
		}
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			done = true
			break
		}
		if err != nil {
			return sum, false, fmt.Errorf("import: %w", err)
		}
		n++
		r, blank, reason := src.parse(rec)
		if reason == "" && !blank && r.status == StatusActive && im.suppressed[foldKey(r.email)] {
			reason = "address is on the suppression list (digest suppressions list): not imported"
		}
		sum.LastLine = r.line
		if blank {
			continue
		}
		im.chunk = append(im.chunk, parsedRow{row: r, reject: reason})
		if len(im.chunk) == chunkSize {
			if err := im.flush(ctx, q, &sum); err != nil {
				return sum, false, err
			}
		}
	}
	if err := im.flush(ctx, q, &sum); err != nil {
		return sum, false, err
	}
	if im.opt.DryRun {
		return sum, true, nil
	}
	if err := tx.Commit(); err != nil {
		return ImportSummary{}, false, fmt.Errorf("import: commit: %w", err)
	}
	im.sendConfirmations()
	return sum, done, nil
}

// member is what the store holds (or will hold) for one address.
type member struct {
	id          int64
	email, name string
	attrs       string // JSON object
	status      string // on the list; "" when not on it
	isNew       bool   // not in the store yet
	subDirty    bool   // name or attributes changed
	memberDirty bool   // membership to write
	queued      bool   // in the chunk's write order
}

// flush applies the chunk's rows in order: one lookup for all their
// addresses, the decisions in memory, then multi-row writes.
func (im *importer) flush(ctx context.Context, tx store.Querier, sum *ImportSummary) error {
	if len(im.chunk) == 0 {
		return nil
	}
	defer func() { im.chunk = im.chunk[:0] }()
	members, err := im.lookup(ctx, tx)
	if err != nil {
		return fmt.Errorf("import line %d: %w", im.chunk[0].line, err)
	}
	var order []*member // in the order of first appearance
	for _, r := range im.chunk {
		sum.Rows++
		if r.reject != "" {
			sum.Rejected++
			im.report(RowReport{Line: r.line, Kind: RowRejected, Email: clip(r.email), Reason: r.reject})
			continue
		}
		key := foldKey(r.email)
		if h := maphash.String(im.seed, key); im.seen[h] != 0 {
			sum.Duplicates++
			im.report(RowReport{Line: r.line, Kind: RowDuplicate, Email: r.email, Reason: fmt.Sprintf("same address as line %d: merged", im.seen[h])})
		} else {
			im.seen[h] = r.line
		}
		m := members[key]
		if im.toConfirm(r.row, m, sum) {
			continue
		}
		if m == nil {
			attrs, _, err := mergeAttributes("{}", r.attrs)
			if err != nil {
				return fmt.Errorf("import line %d: %w", r.line, err)
			}
			m = &member{email: r.email, name: r.name, attrs: attrs, status: r.status, isNew: true, memberDirty: true, queued: true}
			members[key] = m
			order = append(order, m)
			sum.Added++
			continue
		}
		if m.status != "" && m.status != StatusActive && r.status == StatusActive && !im.opt.Resubscribe {
			sum.Skipped++
			im.report(RowReport{Line: r.line, Kind: RowSkipped, Email: r.email,
				Reason: fmt.Sprintf("%s on %s: not re-subscribed (use --resubscribe if they asked to come back)", m.status, im.list.Name)})
			continue
		}
		attrs, attrsChanged, err := mergeAttributes(m.attrs, r.attrs)
		if err != nil {
			return fmt.Errorf("import line %d: %w", r.line, err)
		}
		nameChanged := r.name != "" && r.name != m.name
		statusChanged := m.status != r.status
		switch {
		case m.status == "":
			sum.Added++ // a known person, new on this list
		case nameChanged || attrsChanged || statusChanged:
			sum.Updated++
		default:
			sum.Unchanged++
		}
		if nameChanged {
			m.name = r.name
		}
		m.attrs, m.status = attrs, r.status
		m.subDirty = m.subDirty || nameChanged || attrsChanged
		m.memberDirty = m.memberDirty || statusChanged
		if (m.subDirty || m.memberDirty) && !m.queued {
			m.queued = true
			order = append(order, m)
		}
	}
	if err := im.write(ctx, tx, order); err != nil {
		return fmt.Errorf("import lines %d-%d: %w", im.chunk[0].line, im.chunk[len(im.chunk)-1].line, err)
	}
	return nil
}

// lookup reads what the store holds for the chunk's addresses, keyed by
// folded address.
func (im *importer) lookup(ctx context.Context, tx store.Querier) (map[string]*member, error) {
	members := make(map[string]*member, len(im.chunk))
	args := []any{im.list.ID}
	for _, r := range im.chunk {
		if r.reject == "" {
			args = append(args, r.email)
		}
	}
	if len(args) == 1 {
		return members, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.id, s.email, s.name, s.attributes, COALESCE(m.status, '') FROM subscribers s
		LEFT JOIN memberships m ON m.subscriber_id = s.id AND m.list_id = ?
		WHERE s.email IN (?`+strings.Repeat(", ?", len(args)-2)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		m := &member{}
		if err := rows.Scan(&m.id, &m.email, &m.name, &m.attrs, &m.status); err != nil {
			return nil, err
		}
		members[foldKey(m.email)] = m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if im.opt.DryRun {
		return members, im.lookupDry(ctx, tx, members, args[1:])
	}
	return members, nil
}

// A dry run must not take the database's write lock: it would hold it
// for the whole file and starve every writer (a send's ledger, an
// unsubscribe click). So it writes nothing to the store. What a real
// import would have written for earlier rows of the file goes to a table
// in the connection's own temporary database instead (which locks
// nothing in the main file and lives on disk, not in memory), and each
// lookup reads it over the store's rows: the counts come out as a real
// import's.

// dryTable is the dry run's overlay, private to the import's connection.
const dryTable = "temp.dry_run_members"

func (im *importer) startDry(ctx context.Context) error {
	if _, err := im.conn.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS dry_run_members (
		email TEXT PRIMARY KEY COLLATE NOCASE, name TEXT NOT NULL, attributes TEXT NOT NULL, status TEXT NOT NULL)`); err != nil {
		return err
	}
	_, err := im.conn.ExecContext(ctx, `DELETE FROM `+dryTable)
	return err
}

func (im *importer) endDry(ctx context.Context) {
	im.conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+dryTable)
}

// lookupDry lays what the dry run has "written" over the store's rows.
func (im *importer) lookupDry(ctx context.Context, q store.Querier, members map[string]*member, emails []any) error {
	rows, err := q.QueryContext(ctx, `SELECT email, name, attributes, status FROM `+dryTable+`
		WHERE email IN (?`+strings.Repeat(", ?", len(emails)-1)+`)`, emails...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		m := &member{}
		if err := rows.Scan(&m.email, &m.name, &m.attrs, &m.status); err != nil {
			return err
		}
		if old := members[foldKey(m.email)]; old != nil {
			m.id, m.email = old.id, old.email
		}
		members[foldKey(m.email)] = m
	}
	return rows.Err()
}

// writeDry records in the overlay what write would store.
func (im *importer) writeDry(ctx context.Context, q store.Querier, order []*member) error {
	if len(order) == 0 {
		return nil
	}
	args := make([]any, 0, 4*len(order))
	for _, m := range order {
		args = append(args, m.email, m.name, m.attrs, m.status)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO `+dryTable+` (email, name, attributes, status) VALUES `+placeholders(len(order), 4)+`
		ON CONFLICT (email) DO UPDATE SET name = excluded.name, attributes = excluded.attributes, status = excluded.status`, args...)
	return err
}

// write stores the chunk's new subscribers (one multi-row insert), their
// changed names and attributes, and the memberships to set (one
// multi-row upsert).
func (im *importer) write(ctx context.Context, tx store.Querier, order []*member) error {
	if im.opt.DryRun {
		return im.writeDry(ctx, tx, order)
	}
	var ins []any
	byKey := map[string]*member{}
	for _, m := range order {
		if m.isNew {
			ins = append(ins, m.email, m.name, m.attrs, NewToken(), im.now, im.now)
			byKey[foldKey(m.email)] = m
		}
	}
	if len(ins) > 0 {
		// RETURNING comes in no particular order: match by address.
		rows, err := tx.QueryContext(ctx, `INSERT INTO subscribers (email, name, attributes, token, created_at, updated_at) VALUES `+
			placeholders(len(ins)/6, 6)+` RETURNING id, email`, ins...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var email string
			if err := rows.Scan(&id, &email); err != nil {
				rows.Close()
				return err
			}
			byKey[foldKey(email)].id = id
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	var ms []any
	for _, m := range order {
		if m.subDirty && !m.isNew {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?`,
				m.name, m.attrs, im.now, m.id); err != nil {
				return err
			}
		}
		if m.memberDirty {
			ms = append(ms, im.list.ID, m.id, m.status, im.now, im.now)
		}
	}
	if len(ms) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at) VALUES `+
			placeholders(len(ms)/5, 5)+` ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`, ms...); err != nil {
			return err
		}
		return im.recordImported(ctx, tx, order)
	}
	return nil
}

// placeholders is "(?, ?), (?, ?)" for rows tuples of width values.
func placeholders(rows, width int) string {
	tuple := "(?" + strings.Repeat(", ?", width-1) + ")"
	return tuple + strings.Repeat(", "+tuple, rows-1)
}

// mergeAttributes sets the new values over the stored JSON object and
// reports whether anything changed.
func mergeAttributes(stored string, set map[string]string) (string, bool, error) {
	if len(set) == 0 {
		return stored, false, nil
	}
	m := map[string]any{}
	if stored != "" {
		if err := json.Unmarshal([]byte(stored), &m); err != nil {
			return stored, false, fmt.Errorf("stored attributes are not a JSON object: %w", err)
		}
	}
	changed := false
	for k, v := range set {
		if old, ok := m[k].(string); !ok || old != v {
			m[k] = v
			changed = true
		}
	}
	if !changed {
		return stored, false, nil
	}
	b, err := json.Marshal(m)
	return string(b), true, err
}

// Export writes the members of the filter's list (of one status, or all)
// as CSV: a header row, then one row per member in the order they were
// added. The columns are email, name, status, then one per attribute
// name found among the exported members, in byte order; an absent
// attribute is an empty cell. Import reads the file back unchanged:
// export, import into an empty store and export again give the same
// bytes. Rows stream from the database; only the attribute names are
// gathered first.
func (s *Store) Export(ctx context.Context, w io.Writer, f Filter) (int, error) {
	if f.List == "" {
		f.List = DefaultList
	}
	listID, err := s.checkFilter(ctx, f)
	if err != nil {
		return 0, err
	}
	keys, err := s.attributeKeys(ctx, listID, f.Status)
	if err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	rec := append([]string{ColEmail, ColName, ColStatus}, keys...)
	if err := cw.Write(rec); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT s.email, s.name, m.status, s.attributes
		FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE m.list_id = ? AND (? = '' OR m.status = ?) ORDER BY m.subscriber_id`, listID, f.Status, f.Status)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	n := 0
	var attrs string
	for rows.Next() {
		if err := rows.Scan(&rec[0], &rec[1], &rec[2], &attrs); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		if len(keys) > 0 {
			if err := attributeCells(attrs, keys, rec[3:]); err != nil {
				return n, fmt.Errorf("export %s: %w", rec[0], err)
			}
		}
		if err := cw.Write(rec); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// attributeKeys lists the attribute names of the members to export,
// leaving out names import would read as a column of its own.
func (s *Store) attributeKeys(ctx context.Context, listID int64, status string) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT j.key FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id,
		json_each(s.attributes) j WHERE m.list_id = ? AND (? = '' OR m.status = ?) ORDER BY j.key`, listID, status, status)
	if err != nil {
		return nil, fmt.Errorf("export: attribute names: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if h, err := parseHeader([]string{"email", k}); err == nil && len(h.attrs) == 1 && h.attrs[0].key == k {
			keys = append(keys, k)
		}
	}
	return keys, rows.Err()
}

// attributeCells fills cells with the values of keys: strings as they
// are, other JSON values as JSON text, absent or null as empty.
func attributeCells(attrs string, keys []string, cells []string) error {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(attrs), &m); err != nil {
		return fmt.Errorf("attributes are not a JSON object: %w", err)
	}
	for i, k := range keys {
		raw, ok := m[k]
		switch {
		case !ok || string(raw) == "null":
			cells[i] = ""
		case len(raw) > 0 && raw[0] == '"':
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			cells[i] = v
		default:
			cells[i] = string(raw)
		}
	}
	return nil
}
