package subscribers_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/newsroom/digest/subscribers"
)

func TestNormalizeAddress(t *testing.T) {
	tests := []struct {
		in, want string
		reason   string // part of the error; empty when valid
	}{
		{"ada@example.com", "ada@example.com", ""},
		{"  Ada.Lovelace+news@Example.COM \t", "Ada.Lovelace+news@example.com", ""},
		{"bob@Bücher.Example", "bob@bücher.example", ""},
		{"bob@xn--bcher-kva.example", "bob@bücher.example", ""},
		{"info@日本語.jp", "info@日本語.jp", ""},
		{"o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk", ""},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".com", ""},

		{"", "", "empty"},
		{"ada lovelace@example.com", "", "white space"},
		{"ada@example.com\r\nBcc: eve@example.net", "", "white space"},
		{"a@b@example.com", "", "exactly one @"},
		{"ada.example.com", "", "exactly one @"},
		{"ada@", "", "local part and a domain"},
		{"@example.com", "", "local part and a domain"},
		{"ada@localhost", "", "no valid domain"},
		{"ada@example.com.", "", "no valid domain"},
		{"a@xn--.example.com", "", "no valid domain"}, // once stored as a@.example.com
		{"a@" + strings.Repeat("b", 64) + ".com", "", "no valid domain"},
		{"Ada <ada@example.com>", "", "white space"},
		{"<ada@example.com>", "", "display name"},
		{"ada@exa_mple..com", "", "not a valid"},
		{"ada(comment)@example.com", "", "not a valid"},
		{strings.Repeat("a", 250) + "@x.com", "", "limit is 254"},
	}
	for _, tt := range tests {
		got, err := subscribers.NormalizeAddress(tt.in)
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.reason)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("NormalizeAddress(%q): error is not one line: %q", tt.in, err)
		}
	}
}

func TestNormalizeAddressIsIdempotent(t *testing.T) {
	for _, in := range []string{"Ada@Example.COM", "bob@xn--bcher-kva.example", "x@ÉCOLE.fr"} {
		once, err := subscribers.NormalizeAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := subscribers.NormalizeAddress(once)
		if err != nil || twice != once {
			t.Errorf("%q: normalised %q, again %q (%v)", in, once, twice, err)
		}
	}
}

func TestCleanNameCannotCarryAHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"  padded  ", "padded"},
		{"Eve\r\nBcc: x@y", "Eve Bcc: x@y"},
		{"Eve\nSubject: win\n\nbody", "Eve Subject: win body"},
		{"tab\there", "tab here"},
		{"line\u2028separator", "line separator"},
		{"null\x00byte", "null byte"},
		{"Zoë Ørsted", "Zoë Ørsted"},
	}
	for _, tt := range tests {
		got := subscribers.CleanName(tt.in)
		if got != tt.want {
			t.Errorf("CleanName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Errorf("CleanName(%q) kept a line break", tt.in)
		}
	}
}

func TestErrorsKeepLongUnicodeAddressesValid(t *testing.T) {
	_, err := subscribers.NormalizeAddress(strings.Repeat("é", 40) + " x@example.com")
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "...") {
		t.Fatalf("got %v", err)
	}
}
