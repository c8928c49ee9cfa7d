package digest_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/newsroom/digest/digest"
)

// FuzzTruncate checks the promises the front page's teasers rely on: no
// longer than the limit (in characters), valid UTF-8 whatever the input,
// untouched when short enough, and otherwise a prefix of the text cut at
// a word boundary (mid-word only when the first word alone is too long)
// and ended with the ellipsis. Seeds: testdata/fuzz/FuzzTruncate.
func FuzzTruncate(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, max uint16) {
		limit := int(max % 400)
		got := digest.Truncate(s, limit)
		if n := utf8.RuneCountInString(got); n > limit {
			t.Fatalf("Truncate(%q, %d) = %q: %d characters", s, limit, got, n)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q: not valid UTF-8", s, limit, got)
		}
		text := strings.TrimSpace(strings.ToValidUTF8(s, string(utf8.RuneError)))
		if utf8.RuneCountInString(text) <= limit {
			if got != text {
				t.Fatalf("Truncate(%q, %d) = %q, want the text as it is, %q", s, limit, got, text)
			}
			return
		}
		if limit < len(digest.Ellipsis) {
			return // no room for a word: only the length and UTF-8 matter
		}
		head, ok := strings.CutSuffix(got, digest.Ellipsis)
		if !ok || !strings.HasPrefix(text, head) {
			t.Fatalf("Truncate(%q, %d) = %q: not a prefix of the text followed by %q", s, limit, got, digest.Ellipsis)
		}
		if head != strings.TrimRightFunc(head, unicode.IsSpace) {
			t.Errorf("Truncate(%q, %d) = %q: white space before the ellipsis", s, limit, got)
		}
		next, _ := utf8.DecodeRuneInString(text[len(head):])
		if unicode.IsSpace(next) || unicode.IsPunct(next) || head == "" {
			return // cut between words, or before punctuation it dropped
		}
		// A cut inside a word is allowed only when no word ended within
		// the room the ellipsis leaves.
		room := []rune(text)[:limit-len(digest.Ellipsis)]
		if len(room) > 1 && strings.IndexFunc(string(room[1:]), unicode.IsSpace) >= 0 {
			t.Errorf("Truncate(%q, %d) = %q: cut inside a word", s, limit, got)
		}
	})
}
