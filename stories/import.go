package stories

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/canon"
)

// MaxLineBytes is the longest line of a one-object-per-line import; a
// longer line is refused in words, not with a scanner's error.
const MaxLineBytes = 16 << 20

// knownFields are the import format's fields: what a newsroom's CMS
// exports. Any other field is ignored and counted (ImportResult.Ignored).
var knownFields = map[string]bool{
	"section": true, "title": true, "url": true, "teaser": true,
	"published_at": true, "score": true, "image": true, "byline": true,
}

// knownFieldList names the import format's fields, for messages.
func knownFieldList() string {
	names := make([]string, 0, len(knownFields))
	for k := range knownFields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// firstKey is the smallest key of m, for a stable message.
func firstKey(m map[string]int) string {
	first := ""
	for k := range m {
		if first == "" || k < first {
			first = k
		}
	}
	return first
}

// ImportOptions choose how an import treats bad lines.
type ImportOptions struct {
	// SkipBad imports the good stories and reports the bad ones in
	// ImportResult.Bad; without it the first bad one fails the file.
	SkipBad bool
}

// ImportResult is what an import read.
type ImportResult struct {
	// Stories are the good stories, from ParseWith only: an import
	// streams them to the store and keeps none.
	Stories []Story
	// Imported counts the good stories.
	Imported int
	// Ignored counts, per unknown field name, the rows that carried it.
	Ignored map[string]int
	// Bad are the stories left out with SkipBad, in file order.
	Bad []*LineError
}

// IgnoredSummary is "ignored fields: author (34 rows), tags (2 rows)",
// or "" when every field was known.
func (r ImportResult) IgnoredSummary() string {
	if len(r.Ignored) == 0 {
		return ""
	}
	names := make([]string, 0, len(r.Ignored))
	for k := range r.Ignored {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		n := r.Ignored[k]
		unit := "rows"
		if n == 1 {
			unit = "row"
		}
		parts[i] = fmt.Sprintf("%s (%d %s)", k, n, unit)
	}
	return "ignored fields: " + strings.Join(parts, ", ")
}

// record is one object of the import, field by field as JSON gave it.
type record map[string]json.RawMessage

// decodeRecord reads one JSON object; anything else is not a story.
func decodeRecord(raw []byte) (record, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil || rec == nil {
		return nil, errors.New("not a JSON story object: expected {\"section\": ..., \"title\": ..., \"url\": ...}")
	}
	return rec, nil
}

// story turns the record into a checked story; unknown fields go to
// ignored (field name, first spelling seen).
func (r record) story(now time.Time, ignored map[string]int) (Story, error) {
	st := Story{PublishedAt: now}
	fields := map[string]json.RawMessage{}
	seenUnknown := map[string]bool{}
	for k, v := range r {
		key := strings.ToLower(k)
		if !knownFields[key] {
			if !seenUnknown[k] {
				seenUnknown[k] = true
				ignored[k]++
			}
			continue
		}
		fields[key] = v
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"section", &st.Section}, {"title", &st.Title}, {"url", &st.URL}, {"teaser", &st.Teaser}, {"image", &st.Image}, {"byline", &st.Byline}} {
		if raw, ok := fields[f.name]; ok {
			v, err := textField(f.name, raw)
			if err != nil {
				return st, err
			}
			*f.dst = v
		}
	}
	if raw, ok := fields["score"]; ok {
		v, err := numberField("score", raw)
		if err != nil {
			return st, err
		}
		st.Score = v
	}
	if raw, ok := fields["published_at"]; ok {
		v, err := textField("published_at", raw)
		if err != nil {
			return st, err
		}
		if v = strings.TrimSpace(v); v != "" {
			t, err := ParseTime(v)
			if err != nil {
				return st, err
			}
			st.PublishedAt = t
		}
	}
	return st, Normalize(&st)
}

// textField reads a JSON string (null is empty).
func textField(name string, raw json.RawMessage) (string, error) {
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s %s is not text: give it in quotes", name, clipValue(raw))
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// numberField reads a JSON number, or a string holding one ("5"), as
// CMS exports often write numbers (null and "" are 0).
func numberField(name string, raw json.RawMessage) (float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s %s is not a number", name, clipValue(raw))
	}
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != f || f > 1e300 || f < -1e300 {
			return 0, fmt.Errorf("%s %q is not a number", name, clip(x))
		}
		return f, nil
	}
	return 0, fmt.Errorf("%s %s is not a number", name, clipValue(raw))
}

func clipValue(raw json.RawMessage) string { return clip(string(bytes.TrimSpace(raw))) }

func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 57
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// timeLayouts are the forms published_at is read in: RFC 3339 (with or
// without seconds and fraction), and the RFC 1123 / RFC 822 forms feeds
// use, with or without the weekday and the seconds, a numeric offset
// (after Z, UT and GMT were turned into +0000).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04Z07:00",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 06 15:04 -0700",
}

// zoneNames are the zone names RFC 822 defines, as offsets: Go would
// otherwise read "EST" as a zone with a zero offset.
var zoneNames = map[string]string{
	"Z": "+0000", "UT": "+0000", "UTC": "+0000", "GMT": "+0000",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

// ParseTime reads a publication time in RFC 3339 or a common feed form
// (RFC 1123 with or without seconds, a zone name, Z or a numeric offset).
func ParseTime(s string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if off, ok := zoneNames[strings.ToUpper(s[i+1:])]; ok {
			s = s[:i+1] + off
		}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("published_at %q is not a time: use RFC 3339 (2026-11-28T06:00:00Z) or RFC 1123 (Sat, 28 Nov 2026 06:00:00 +0000)", clip(s))
}

// LineError locates an import problem in its file.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads stories as JSON: either one array of objects, or one object
// per line (blank lines allowed). Every story is checked; the first bad
// one fails the whole file with its line number, so nothing is imported
// from a file with an error in it. Unknown fields are ignored.
func Parse(r io.Reader, now time.Time) ([]Story, error) {
	res, err := ParseWith(r, now, ImportOptions{})
	return res.Stories, err
}

// Each reads stories as Parse does, but hands each one to fn as soon as
// it is read and checked, holding none of them: a file of any size is
// read in constant memory. It stops at the first bad story, or the first
// error of fn.
func Each(r io.Reader, now time.Time, fn func(Story) error) error {
	_, err := EachWith(r, now, ImportOptions{}, fn)
	return err
}

// ParseWith is Parse with options, and tells what it ignored or skipped.
func ParseWith(r io.Reader, now time.Time, opt ImportOptions) (ImportResult, error) {
	var out []Story
	res, err := EachWith(r, now, opt, func(st Story) error { out = append(out, st); return nil })
	if err != nil {
		return ImportResult{}, err
	}
	res.Stories = out
	return res, nil
}

// EachWith is Each with options: with SkipBad a bad story is counted and
// listed in the result and the read goes on. The result holds no stories
// (fn had them), only the counts.
func EachWith(r io.Reader, now time.Time, opt ImportOptions, fn func(Story) error) (ImportResult, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	p := &parser{now: now, opt: opt, fn: fn, res: ImportResult{Ignored: map[string]int{}}}
	first, skipped, err := peekNonSpace(br)
	if err == io.EOF {
		return ImportResult{}, errors.New("the file is empty: expected a JSON array or one JSON object per line")
	}
	if err != nil {
		return ImportResult{}, err
	}
	if first == '[' {
		err = p.parseArray(br, skipped)
	} else {
		err = p.parseLines(br, skipped)
	}
	if err != nil {
		return ImportResult{}, err
	}
	return p.res, nil
}

type parser struct {
	now time.Time
	opt ImportOptions
	fn  func(Story) error
	res ImportResult
}

// bad records a bad story: with SkipBad it is listed and the parse goes
// on; otherwise it ends the parse.
func (p *parser) bad(le *LineError) error {
	if p.opt.SkipBad {
		p.res.Bad = append(p.res.Bad, le)
		return nil
	}
	return le
}

// peekNonSpace skips a byte order mark and leading white space, and
// returns the first other byte and how many lines it skipped, so that
// line numbers in errors still count from the top of the file.
func peekNonSpace(br *bufio.Reader) (byte, int, error) {
	lines := 0
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, lines, err
		}
		switch b[0] {
		case '\n':
			lines++
			br.ReadByte()
		case ' ', '\t', '\r':
			br.ReadByte()
		case 0xEF: // a UTF-8 byte order mark
			if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
				br.Discard(3)
				continue
			}
			return b[0], lines, nil
		default:
			return b[0], lines, nil
		}
	}
}

// readLine returns the next line without its end; a line over
// MaxLineBytes is read to its end and discarded, and tooLong says so.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if len(buf) > 0 || tooLong {
				return buf, tooLong, nil
			}
			return nil, false, err
		}
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if !isPrefix {
			return buf, tooLong, nil
		}
	}
}

func (p *parser) parseLines(br *bufio.Reader, skipped int) error {
	line := skipped
	for {
		raw, tooLong, err := readLine(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line+1, err)
		}
		line++
		if tooLong {
			if err := p.bad(&LineError{line, fmt.Errorf("the line is longer than the limit of %d MiB: put one story per line", MaxLineBytes>>20)}); err != nil {
				return err
			}
			continue
		}
		text := bytes.TrimSpace(raw)
		if len(text) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		var one json.RawMessage
		if err := dec.Decode(&one); err != nil {
			if err := p.bad(&LineError{line, fmt.Errorf("not a JSON story object: %v", err)}); err != nil {
				return err
			}
			continue
		}
		if dec.More() {
			if err := p.bad(&LineError{line, errors.New("more than one JSON value on the line: put one story per line")}); err != nil {
				return err
			}
			continue
		}
		if err := p.add(line, one); err != nil {
			return err
		}
	}
}

// add checks one object and keeps its story, or reports it as bad.
func (p *parser) add(line int, raw []byte) error {
	rec, err := decodeRecord(raw)
	if err == nil {
		var st Story
		if st, err = rec.story(p.now, p.res.Ignored); err == nil {
			p.res.Imported++
			return p.fn(st)
		}
	}
	return p.bad(&LineError{line, err})
}

func (p *parser) parseArray(br *bufio.Reader, skipped int) error {
	// The bytes read since the last story are kept to turn a decoder
	// offset into a line; older ones are only counted (base, baseLines),
	// so memory stays flat whatever the file's size.
	var seen bytes.Buffer
	var base int64
	baseLines := skipped
	dec := json.NewDecoder(io.TeeReader(br, &seen))
	lineAt := func(off int64) int {
		b := seen.Bytes()
		if rel := off - base; rel >= 0 && int(rel) < len(b) {
			b = b[:rel]
		}
		return baseLines + bytes.Count(b, []byte("\n")) + 1
	}
	forget := func(off int64) {
		if rel := int(off - base); rel > 0 && rel <= seen.Len() {
			baseLines += bytes.Count(seen.Next(rel), []byte("\n"))
			base = off
		}
	}
	if _, err := dec.Token(); err != nil {
		return &LineError{lineAt(dec.InputOffset()), err}
	}
	for dec.More() {
		start := dec.InputOffset()
		var one json.RawMessage
		if err := dec.Decode(&one); err != nil {
			// Past a syntax error the decoder cannot find the next story.
			return &LineError{lineAt(dec.InputOffset()), fmt.Errorf("not a JSON story object: %v", err)}
		}
		// Report the line where the object starts, after its comma.
		if err := p.add(lineAt(start)+leadingNewlines(seen.Bytes()[start-base:]), one); err != nil {
			return err
		}
		forget(dec.InputOffset())
	}
	if _, err := dec.Token(); err != nil {
		return &LineError{lineAt(dec.InputOffset()), fmt.Errorf("unterminated array: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &LineError{lineAt(dec.InputOffset()), errors.New("unexpected data after the array")}
	}
	return nil
}

func leadingNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r', ',':
		default:
			return n
		}
	}
	return n
}

// Import parses r and stores every story, all or nothing. It returns how
// many stories were read. The file is streamed into a temporary staging
// table first (stage.go), which takes no lock on the store, so a bad
// story anywhere leaves the store untouched and other writers are not
// held up while a large file is read; then one transaction moves the
// stories in.
func (s *Store) Import(ctx context.Context, r io.Reader) (int, error) {
	res, err := s.ImportWith(ctx, r, ImportOptions{})
	return res.Imported, err
}

// ImportWith is Import with options: with SkipBad the good stories are
// stored (all of them or none) and the bad ones returned in the result.
// The result counts the stories (Imported) but holds none of them.
func (s *Store) ImportWith(ctx context.Context, r io.Reader, opt ImportOptions) (ImportResult, error) {
	st, err := newStage(ctx, s.DB)
	if err != nil {
		return ImportResult{}, err
	}
	defer st.close()
	res, err := EachWith(r, s.now(), opt, func(story Story) error {
		story.URL = canon.StoryURL(story.URL) // the URL feeds and the push API store it under
		return st.add(ctx, story)
	})
	if err != nil {
		return ImportResult{}, err
	}
	if err := st.commit(ctx, s.now()); err != nil {
		return ImportResult{}, err
	}
	return res, nil
}
