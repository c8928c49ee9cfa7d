package oneline_test

import (
	"testing"

	"github.com/newsroom/digest/internal/oneline"
)

func TestString(t *testing.T) {
	tests := map[string]string{
		"  plain  ":                 "plain",
		"Eve\r\nBcc: x@y":           "Eve Bcc: x@y",
		"a\tb\x00c\x7fd":            "a b c d",
		"line\u2028sep\u2029para":   "line sep para",
		"nel\u0085end":              "nel end",
		"many   inner    spaces":    "many inner spaces",
		"Ünïcödé stays\n\n\nintact": "Ünïcödé stays intact",
		"":                          "",
	}
	for in, want := range tests {
		if got := oneline.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripInvisible(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"right-to-left override", "Invoice \u202Efdp.exe", "Invoice fdp.exe"},
		{"isolates and marks", "\u2066a\u2069 \u200Eb\u200F \u061Cc", "a b c"},
		{"zero-width space hides an address", "ceo\u200B@bank.example", "ceo@bank.example"},
		{"word joiner and BOM", "x\u2060y\uFEFFz", "xyz"},
		{"joiner inside an emoji sequence stays", "family \U0001F468\u200D\U0001F469", "family \U0001F468\u200D\U0001F469"},
		{"non-joiner inside a Persian word stays", "می\u200Cخواهم", "می\u200Cخواهم"},
		{"joiner at the edges goes", "\u200Dword\u200C", "word"},
		{"joiner next to a space goes", "a \u200Db", "a b"},
		{"plain text untouched", "Plain headline", "Plain headline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oneline.StripInvisible(tt.in); got != tt.want {
				t.Errorf("StripInvisible(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := oneline.String(" \u202Eevil\u200B title "); got != "evil title" {
		t.Errorf("String strips invisible characters too: got %q", got)
	}
	if got := oneline.Text("\u200Bline one\nline\u202E two "); got != "line one\nline two" {
		t.Errorf("Text = %q", got)
	}
}
