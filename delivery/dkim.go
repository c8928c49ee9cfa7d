package delivery

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wneessen/go-mail"
)

// DKIMConfig names the key that signs outgoing mail (RFC 6376). The
// public half is published at SELECTOR._domainkey.DOMAIN.
type DKIMConfig struct {
	// KeyFile is a PEM file with an RSA (PKCS#1 or PKCS#8) or Ed25519
	// private key. Empty turns signing off.
	KeyFile  string
	Selector string
	// Domain is the signing domain (d=); empty signs with the domain of
	// each list's sender, which is what DMARC alignment wants.
	Domain string
}

// DKIMHeaders are the header fields every signature covers: those the
// 2024 bulk sender rules look at. The body hash (bh=) covers the content.
//
// The list is kept to what fits on one folded line: go-mail v0.8.1 wraps a
// longer h= tag in the middle of a header name, and relaxed
// canonicalization then hashes a space the signer did not, so no
// signature verifies (TestDKIMSignedMessagesVerify catches it). For the
// same reason nothing is oversigned.
var DKIMHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID",
	"List-Unsubscribe", "List-Unsubscribe-Post",
}

// DKIM signs messages with go-mail's native DKIM signer.
type DKIM struct {
	key      crypto.Signer
	selector string
	domain   string
}

// LoadDKIM reads the key named by c. It returns nil, nil when c names no
// key file. Errors name the file, never its content.
func LoadDKIM(c DKIMConfig) (*DKIM, error) {
	if c.KeyFile == "" {
		if c.Selector != "" || c.Domain != "" {
			return nil, errors.New("dkim selector or domain set without a key file: set dkim key_file (DIGEST_DKIM_KEY_FILE)")
		}
		return nil, nil
	}
	if c.Selector == "" || strings.ContainsAny(c.Selector, " \t\r\n;=") {
		return nil, fmt.Errorf("dkim selector %q is missing or invalid: set dkim selector (DIGEST_DKIM_SELECTOR) to the name published at SELECTOR._domainkey.DOMAIN", c.Selector)
	}
	if c.Domain != "" && (strings.ContainsAny(c.Domain, " \t\r\n;=@") || !strings.Contains(c.Domain, ".")) {
		return nil, fmt.Errorf("dkim domain %q is not a domain name like example.com", c.Domain)
	}
	pemBytes, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key file: %w", err)
	}
	key, err := mail.PrivKeyFromPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("dkim key file %s is not a PEM RSA or Ed25519 private key: %v", c.KeyFile, err)
	}
	d := &DKIM{key: key, selector: c.Selector, domain: strings.ToLower(c.Domain)}
	// Sign once now: a key go-mail cannot use fails here, not on every
	// message of the run.
	m := mail.NewMsg()
	m.SetAddrHeaderIgnoreInvalid(mail.HeaderFrom, "check@example.com")
	m.SetBodyString(mail.TypeTextPlain, "check")
	m.SetDKIM(d.Signer("example.com"))
	if _, err := m.WriteTo(&bytes.Buffer{}); err != nil {
		return nil, fmt.Errorf("dkim key file %s cannot sign: %v", c.KeyFile, err)
	}
	return d, nil
}

// Signer makes a signer for one message from fromDomain (a fresh one
// each time: go-mail's signer is not safe for concurrent use).
func (d *DKIM) Signer(fromDomain string) *mail.DKIMSigner {
	domain := d.domain
	if domain == "" {
		domain = fromDomain
	}
	s := mail.NewDKIMSigner(domain, d.selector, d.key)
	s.SignHeaders(DKIMHeaders...)
	return s
}

// Domain is the configured signing domain, empty for the sender's.
func (d *DKIM) Domain() string { return d.domain }
