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
