package subscribers_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/newsroom/digest/subscribers"
)

// FuzzNormalizeAddress checks that what NormalizeAddress stores can be
// given back to it: show, remove and unsubscribe validate the address
// they are given with the same function, so a stored form it refuses
// (a@xn--.example.com was once stored as a@.example.com) is a subscriber
// nobody can reach. Seeds: testdata/fuzz/FuzzNormalizeAddress.
func FuzzNormalizeAddress(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		addr, err := subscribers.NormalizeAddress(raw)
		if err != nil {
			if addr != "" {
				t.Errorf("NormalizeAddress(%q) returned %q with its error", raw, addr)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Errorf("NormalizeAddress(%q): error is not one line of text: %q", raw, msg)
			}
			return
		}
		again, err := subscribers.NormalizeAddress(addr)
		if err != nil {
			t.Fatalf("NormalizeAddress(%q) = %q, which it then refuses: %v", raw, addr, err)
		}
		if again != addr {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, addr, again)
		}
		if len(addr) > subscribers.MaxAddressLength || !utf8.ValidString(addr) || strings.ContainsAny(addr, " \t\r\n<>") || strings.Count(addr, "@") != 1 {
			t.Fatalf("NormalizeAddress(%q) = %q: too long, not UTF-8, or not one bare address", raw, addr)
		}
		// The local part is kept as given; only the domain is normalised.
		local, domain, _ := strings.Cut(addr, "@")
		if !strings.HasPrefix(strings.TrimSpace(raw), local+"@") {
			t.Errorf("NormalizeAddress(%q) = %q changed the local part", raw, addr)
		}
		if domain != strings.ToLower(domain) || strings.HasPrefix(domain, ".") || strings.Contains(domain, "..") || !strings.Contains(domain, ".") {
			t.Errorf("NormalizeAddress(%q) = %q: domain not lower case or with an empty label", raw, addr)
		}
	})
}
