// Package oneline folds text onto a single line: the one rule digest
// applies to every field that ends up in a header, a subject or a
// headline, so that data can never break or add a line. It also removes
// the invisible characters that change what a reader sees (bidi
// controls, zero-width characters), so a headline cannot be shown
// reversed and a name cannot hide an address.
package oneline

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// String trims s, removes invisible characters (see StripInvisible) and
// turns every run of white space and control characters (CR, LF, tabs,
// NEL, the Unicode line and paragraph separators, ...) into one space.
func String(s string) string {
	return strings.Join(strings.FieldsFunc(StripInvisible(s), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// Text is String for multi-line text such as a teaser: invisible
// characters removed and the ends trimmed, line breaks kept.
func Text(s string) string { return strings.TrimSpace(StripInvisible(s)) }

// bidiControl reports the explicit directional formatting characters
// (Unicode's Bidi_Control property): embeddings, overrides, isolates and
// marks. U+202E, RIGHT-TO-LEFT OVERRIDE, shows "gpj.exe" as "exe.jpg".
func bidiControl(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// zeroWidth reports characters that take no space: zero-width space, word
// joiner, invisible operators, the byte order mark used as a no-break
// space, the Mongolian vowel separator.
func zeroWidth(r rune) bool {
	switch r {
	case '\u200B', '\u2060', '\u2061', '\u2062', '\u2063', '\u2064', '\uFEFF', '\u180E':
		return true
	}
	return false
}

// joiner reports ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER: invisible
// too, but needed inside words of Persian and Indic scripts and inside
// emoji sequences, so they are kept between two visible characters.
func joiner(r rune) bool { return r == '\u200C' || r == '\u200D' }

// StripInvisible removes bidi controls and zero-width characters from s.
// ZWJ and ZWNJ survive only between two visible characters, where they
// shape a word or an emoji; anywhere else they only hide something.
func StripInvisible(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return bidiControl(r) || zeroWidth(r) || joiner(r) }) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	var prev rune // the last rune kept, 0 at the start
	for i, r := range s {
		switch {
		case bidiControl(r), zeroWidth(r):
			continue
		case joiner(r):
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			if !visible(prev) || !visible(next) {
				continue
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func visible(r rune) bool {
	return r != 0 && r != utf8.RuneError && !unicode.IsSpace(r) && !unicode.IsControl(r) &&
		!bidiControl(r) && !zeroWidth(r) && !joiner(r)
}
