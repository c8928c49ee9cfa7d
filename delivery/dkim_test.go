package delivery_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/smtptest"
)

// dkimKey writes a fresh private key as PEM and returns the file and the
// DNS TXT record that publishes its public half.
func dkimKey(t *testing.T, kind string) (file, record string) {
	t.Helper()
	var block *pem.Block
	switch kind {
	case "rsa":
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
		record = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)
	case "ed25519":
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
		record = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	file = filepath.Join(t.TempDir(), kind+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, record
}

// verify checks the message's DKIM signatures against the one record,
// published for selector "news" at example.com, as a receiver would.
func verify(t *testing.T, data []byte, record string) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "news._domainkey.example.com" {
				t.Errorf("verifier looked up %s", domain)
			}
			return []string{record}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestDKIMSignedMessagesVerify(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			file, record := dkimKey(t, kind)
			d, err := delivery.LoadDKIM(delivery.DKIMConfig{KeyFile: file, Selector: "news"})
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, 3)
			f.addStories(3, 100)
			srv := smtptest.Start(t, nil)
			s := f.sender(t, srv.URL())
			s.DKIM = d
			if _, err := s.Send(f.ctx, f.edition("2026-11-28"), f.list); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 3 {
				t.Fatalf("%d messages", len(msgs))
			}
			for _, m := range msgs {
				vs := verify(t, m.Data, record)
				if len(vs) != 1 || vs[0].Err != nil {
					t.Fatalf("%s: verification %+v", m.To[0], *vs[0])
				}
				if vs[0].Domain != "example.com" {
					t.Errorf("signed by %s, want the sender's domain example.com", vs[0].Domain)
				}
				for _, h := range []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"} {
					if !slices.ContainsFunc(vs[0].HeaderKeys, func(k string) bool { return strings.EqualFold(k, h) }) {
						t.Errorf("%s is not signed (h=%v)", h, vs[0].HeaderKeys)
					}
				}
				if headerValue(m.Data, "List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
					t.Error("the signed message lacks List-Unsubscribe-Post")
				}
				// A changed subject or an added unsubscribe link breaks it.
				for _, tamper := range []func([]byte) []byte{
					func(b []byte) []byte { return bytes.Replace(b, []byte("Subject: "), []byte("Subject: FREE MONEY "), 1) },
					func(b []byte) []byte {
						return bytes.Replace(b, []byte("List-Unsubscribe: <https://news.example.com/"), []byte("List-Unsubscribe: <https://evil.example/"), 1)
					},
				} {
					if vs := verify(t, tamper(bytes.Clone(m.Data)), record); len(vs) != 1 || vs[0].Err == nil {
						t.Error("a tampered message still verifies")
					}
				}
			}
		})
	}
}

func TestDKIMSigningDomainFromConfig(t *testing.T) {
	file, _ := dkimKey(t, "ed25519")
	d, err := delivery.LoadDKIM(delivery.DKIMConfig{KeyFile: file, Selector: "news", Domain: "Mail.Example.NET"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Signer("example.com").Domain; got != "mail.example.net" {
		t.Errorf("signing domain %q, want the configured mail.example.net", got)
	}
}

func TestLoadDKIMBadInput(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "notes.pem")
	os.WriteFile(notKey, []byte("TOP SECRET NOT A KEY"), 0o600)
	good, _ := dkimKey(t, "ed25519")
	tests := []struct {
		cfg  delivery.DKIMConfig
		want string
	}{
		{delivery.DKIMConfig{KeyFile: filepath.Join(dir, "missing.pem"), Selector: "news"}, "dkim key file"},
		{delivery.DKIMConfig{KeyFile: notKey, Selector: "news"}, "is not a PEM RSA or Ed25519 private key"},
		{delivery.DKIMConfig{KeyFile: good}, "selector"},
		{delivery.DKIMConfig{KeyFile: good, Selector: "a;b"}, "selector"},
		{delivery.DKIMConfig{KeyFile: good, Selector: "news", Domain: "not a domain"}, "not a domain name"},
		{delivery.DKIMConfig{Selector: "news"}, "without a key file"},
	}
	for _, tt := range tests {
		_, err := delivery.LoadDKIM(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "TOP SECRET") {
			t.Error("the key file's content is in the error")
		}
	}
	if d, err := delivery.LoadDKIM(delivery.DKIMConfig{}); d != nil || err != nil {
		t.Errorf("no key file: %v, %v; want signing off", d, err)
	}
}
