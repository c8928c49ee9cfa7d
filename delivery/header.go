package delivery

import (
	"encoding/base64"
	netmail "net/mail"
	"strings"
	"unicode/utf8"
)

// Header lines from data are written here rather than by go-mail, which
// folds only at spaces and so leaves a long unbroken word (a 5,000
// character name, say) on one line that relays refuse. RFC 5322 2.1.1:
// a line must not exceed 998 characters and should not exceed 78. Words
// that fit are folded at spaces; text that has a word too long for a
// line, or is not plain ASCII, becomes RFC 2047 encoded-words, each short
// enough for a line of its own.

const (
	// lineLimit is the length a header line should keep to (CRLF excluded).
	lineLimit = 78
	// encodedChunk is the bytes of text in one encoded-word: base64 makes
	// 48 characters of them, "=?UTF-8?B?...?=" 60, which with a header
	// name fit a 78-character line.
	encodedChunk = 36
)

// textField is an unstructured header value (Subject) for a header
// named name, folded or encoded so that each line fits lineLimit.
func textField(name, s string) string {
	if plainWords(s, len(name)+2) {
		return fold(len(name)+2, strings.Fields(s))
	}
	return fold(len(name)+2, encodedWords(s))
}

// addressField is the value of an address header (To): the display name,
// folded or encoded as textField does, and the address.
func addressField(name, display, addr string) string {
	angle := (&netmail.Address{Address: addr}).String()
	if display == "" {
		return angle
	}
	indent := len(name) + 2
	if isPrintableASCII(display) {
		// net/mail quotes the name as needed; " <@>" is what it adds for
		// the empty address.
		q := (&netmail.Address{Name: display}).String()
		if words := strings.Fields(strings.TrimSuffix(q, " <@>")); fits(words, indent) {
			return fold(indent, append(words, angle))
		}
	}
	return fold(indent, append(encodedWords(display), angle))
}

// plainWords reports whether s can be written as it is: printable ASCII,
// no word longer than a folded line holds, and nothing a reader would
// take for an encoded-word.
func plainWords(s string, indent int) bool {
	return isPrintableASCII(s) && !strings.Contains(s, "=?") && fits(strings.Fields(s), indent)
}

// fits reports whether every word fits a line of its own, the first one
// after the header's name.
func fits(words []string, indent int) bool {
	for _, w := range words {
		if len(w)+indent > lineLimit {
			return false
		}
	}
	return true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// encodedWords cuts s, on character boundaries, into base64 encoded-words
// of at most encodedChunk bytes of text each. Readers join adjacent
// encoded-words without the white space between them (RFC 2047 6.2).
func encodedWords(s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(len(s), encodedChunk)
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		out = append(out, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return out
}

// fold joins words with spaces, breaking the line (CRLF and a space)
// before a word that would take it past lineLimit; used is what the
// header's name takes on the first line.
func fold(used int, words []string) string {
	var b strings.Builder
	n := used
	for i, w := range words {
		if i > 0 {
			if n+1+len(w) > lineLimit {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
