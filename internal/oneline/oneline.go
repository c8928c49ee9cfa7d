// Package oneline folds text onto a single line: the one rule digest
// applies to every field that ends up in a header, a subject or a
// headline, so that data can never break or add a line.
package oneline

import (
	"strings"
	"unicode"
)

// String trims s and turns every run of white space and control
// characters (CR, LF, tabs, NEL, the Unicode line and paragraph
// separators, ...) into one space.
func String(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
