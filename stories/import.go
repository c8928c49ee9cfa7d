package stories

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// record is the import format: the fields a newsroom feed exports.
type record struct {
	Section     string   `json:"section"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	Teaser      string   `json:"teaser"`
	PublishedAt string   `json:"published_at"`
	Score       *float64 `json:"score"`
}

func (r record) story(now time.Time) (Story, error) {
	st := Story{Section: r.Section, Title: r.Title, URL: r.URL, Teaser: r.Teaser, PublishedAt: now}
	if r.Score != nil {
		st.Score = *r.Score
	}
	if r.PublishedAt != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(r.PublishedAt))
		if err != nil {
			return st, fmt.Errorf("published_at %q is not RFC 3339 (like 2026-11-28T06:00:00Z)", r.PublishedAt)
		}
		st.PublishedAt = t
	}
	return st, Normalize(&st)
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
// from a file with an error in it.
func Parse(r io.Reader, now time.Time) ([]Story, error) {
	var out []Story
	if err := Each(r, now, func(st Story) error { out = append(out, st); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// Each reads stories as Parse does, but hands each one to fn as soon as
// it is read and checked, holding none of them: a file of any size is
// read in constant memory. It stops at the first bad story, or the first
// error of fn.
func Each(r io.Reader, now time.Time, fn func(Story) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, skipped, err := peekNonSpace(br)
	if err == io.EOF {
		return errors.New("the file is empty: expected a JSON array or one JSON object per line")
	}
	if err != nil {
		return err
	}
	if first == '[' {
		return parseArray(br, now, skipped, fn)
	}
	return parseLines(br, now, skipped, fn)
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

func parseLines(br *bufio.Reader, now time.Time, skipped int, fn func(Story) error) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := skipped
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec record
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return &LineError{line, fmt.Errorf("not a JSON story object: %v", err)}
		}
		if dec.More() {
			return &LineError{line, errors.New("more than one JSON value on the line")}
		}
		st, err := rec.story(now)
		if err != nil {
			return &LineError{line, err}
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

func parseArray(br *bufio.Reader, now time.Time, skipped int, fn func(Story) error) error {
	// The bytes read since the last story are kept to turn a decoder
	// offset into a line; older ones are only counted (base, baseLines),
	// so memory stays flat whatever the file's size.
	var seen bytes.Buffer
	var base int64
	baseLines := skipped
	dec := json.NewDecoder(io.TeeReader(br, &seen))
	dec.DisallowUnknownFields()
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
		var rec record
		if err := dec.Decode(&rec); err != nil {
			return &LineError{lineAt(dec.InputOffset()), fmt.Errorf("not a JSON story object: %v", err)}
		}
		st, err := rec.story(now)
		if err != nil {
			// Report the line where the object starts, after its comma.
			return &LineError{lineAt(start) + leadingNewlines(seen.Bytes()[start-base:]), err}
		}
		if err := fn(st); err != nil {
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
	st, err := newStage(ctx, s.DB)
	if err != nil {
		return 0, err
	}
	defer st.close()
	n := 0
	if err := Each(r, s.now(), func(story Story) error { n++; return st.add(ctx, story) }); err != nil {
		return 0, err
	}
	if err := st.commit(ctx, s.now()); err != nil {
		return 0, err
	}
	return n, nil
}
