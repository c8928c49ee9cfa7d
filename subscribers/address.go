package subscribers

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/newsroom/digest/internal/oneline"
)

// MaxAddressLength is the longest address accepted (RFC 5321's path limit).
const MaxAddressLength = 254

// idnaProfile maps domains as browsers look them up; VerifyDNSLength
// refuses empty labels, which MapForLookup alone lets through (xn--
// decodes to an empty label).
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.VerifyDNSLength(true))

// NormalizeAddress checks that raw is one bare e-mail address (RFC 5322
// through net/mail: no display name, no spaces, at most 254 characters,
// a domain with a dot) and returns it trimmed with the domain lower-cased.
// Internationalised domains are accepted and kept in Unicode form.
func NormalizeAddress(raw string) (string, error) {
	addr := strings.TrimSpace(raw)
	switch {
	case addr == "":
		return "", errors.New("empty email address")
	case len(addr) > MaxAddressLength:
		return "", fmt.Errorf("email address is %d characters long; the limit is %d", len(addr), MaxAddressLength)
	case strings.ContainsAny(addr, " \t\r\n"):
		return "", fmt.Errorf("email address %q contains white space", clip(addr))
	case strings.Count(addr, "@") != 1:
		return "", fmt.Errorf("email address %q must contain exactly one @", clip(addr))
	case strings.ContainsAny(addr, "<>"):
		return "", fmt.Errorf("email address %q has a display name or brackets: give the bare address", clip(addr))
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	switch {
	case domain == "":
		return "", fmt.Errorf("email address %q has no domain: it needs a local part and a domain (like name@example.com)", clip(addr))
	case local == "":
		return "", fmt.Errorf("email address %q has nothing before the @: it needs a local part and a domain (like name@example.com)", clip(addr))
	case strings.HasSuffix(domain, "."):
		return "", fmt.Errorf("email address %q has no valid domain (like example.com): remove the final dot", clip(addr))
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return "", fmt.Errorf("email address %q is not a valid RFC 5322 address", clip(addr))
	}
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil || !strings.Contains(strings.Trim(ascii, "."), ".") || strings.HasSuffix(ascii, ".") {
		return "", fmt.Errorf("email address %q has no valid domain (like example.com)", clip(addr))
	}
	unicodeDomain, err := idnaProfile.ToUnicode(ascii)
	if err != nil {
		return "", fmt.Errorf("email address %q has no valid domain", clip(addr))
	}
	// The Unicode form is what is stored, and what show and remove are
	// given back: it must turn into the same ASCII form again, or the
	// stored address is one nobody can name.
	if back, err := idnaProfile.ToASCII(unicodeDomain); err != nil || back != ascii {
		return "", fmt.Errorf("email address %q has no valid domain (like example.com)", clip(addr))
	}
	return local + "@" + strings.ToLower(unicodeDomain), nil
}

// MaxNameLength caps a subscriber's display name, in characters: longer
// names are cut (on a character boundary) where they enter, and again
// when a message is built, so every header stays well within RFC 5322's
// line limit.
const MaxNameLength = 256

// CleanName makes a display name safe for storage and headers: control
// characters, CR and LF become single spaces, the ends are trimmed, and
// the name is cut to MaxNameLength characters.
func CleanName(name string) string {
	name = oneline.String(name)
	if utf8.RuneCountInString(name) <= MaxNameLength {
		return name
	}
	n := 0
	for i := range name {
		if n == MaxNameLength {
			return strings.TrimSpace(name[:i])
		}
		n++
	}
	return name
}

// clip shortens s for an error message, cutting at a character boundary.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 57
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
