package delivery_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/newsroom/digest/delivery"
)

// FuzzParseSMTPURL builds an SMTP URL the way an operator types one,
// scheme://user:password@rest, with the password as given (not escaped),
// and checks that the password never shows: not in an error, not in
// String, GoString or any fmt verb. A password with / ? or # cuts the
// host part short, so the parser then sees pieces of it as a port, a
// path or a query; those pieces must not be echoed either. A URL that
// parses prints (String) as one that parses to the same relay.
// Seeds: testdata/fuzz/FuzzParseSMTPURL.
func FuzzParseSMTPURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, smtps bool, user, password, rest string) {
		scheme := "smtp"
		if smtps {
			scheme = "smtps"
		}
		raw := scheme + "://" + user + ":" + password + "@" + rest
		secrets := secretPieces(password, user, rest)
		c, err := delivery.ParseSMTPURL(raw)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("ParseSMTPURL(%q): error is not one line: %q", raw, msg)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Fatalf("ParseSMTPURL(%q): error shows %q of the password: %s", raw, s, msg)
				}
			}
			return
		}
		if (user != "" || password != "") && c.Username == "" && c.Password == "" {
			// What was typed as user:password@ went into the host, port or
			// path: String would show part of it as the relay's address.
			t.Fatalf("ParseSMTPURL(%q) = %v: the user and password were read as something else", raw, c)
		}
		if c.Password != "" && looksSecret(c.Password) && !strings.Contains(c.Username, c.Password) && !strings.Contains(c.Host, c.Password) {
			secrets = append(secrets, c.Password)
		}
		for _, shown := range []string{c.String(), c.GoString(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c)} {
			for _, s := range secrets {
				if strings.Contains(shown, s) {
					t.Fatalf("ParseSMTPURL(%q) prints as %q, showing %q of the password", raw, shown, s)
				}
			}
		}
		again, err := delivery.ParseSMTPURL(c.String())
		if err != nil {
			t.Fatalf("ParseSMTPURL(%q).String() = %q, which does not parse: %v", raw, c.String(), err)
		}
		if again.Host != c.Host || again.Port != c.Port || again.SSL != c.SSL || again.TLS != c.TLS || again.Username != c.Username {
			t.Fatalf("%q prints as %q, which names another relay: %+v vs %+v", raw, c.String(), again, c)
		}
	})
}

// secretPieces are the runs of letters and digits in password that look
// like a secret (looksSecret) and that the rest of the URL does not
// contain: those may only come from the password if they show up.
func secretPieces(password string, others ...string) []string {
	var out []string
	for _, piece := range strings.FieldsFunc(password, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !looksSecret(piece) {
			continue
		}
		shared := false
		for _, o := range others {
			shared = shared || strings.Contains(o, piece)
		}
		if !shared {
			out = append(out, piece)
		}
	}
	return out
}

// looksSecret holds for six or more characters with an upper-case letter
// and a digit: no fixed part of an error message or of String is like
// that, so finding one there means it came from the password.
func looksSecret(s string) bool {
	return len(s) >= 6 && strings.ContainsFunc(s, unicode.IsUpper) && strings.ContainsFunc(s, unicode.IsDigit)
}
