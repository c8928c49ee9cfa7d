package delivery_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/smtptest"
)

const secret = "pa55:w@rd/s3cret"

// secretURL is the password as it stands in a URL.
var secretURL = "pa55%3Aw%40rd%2Fs3cret"

func TestTLSAndAuthMechanisms(t *testing.T) {
	tests := []struct {
		name     string
		implicit bool
		mech     string
		url      string
	}{
		{"STARTTLS + PLAIN", false, smtptest.AuthPlain, "smtp://editor:%s@%s?verify=false&auth=plain"},
		{"STARTTLS + LOGIN", false, smtptest.AuthLogin, "smtp://editor:%s@%s?verify=false&auth=login"},
		{"STARTTLS + CRAM-MD5", false, smtptest.AuthCramMD5, "smtp://editor:%s@%s?verify=false&auth=cram-md5"},
		{"STARTTLS + best offered", false, smtptest.AuthPlain, "smtp://editor:%s@%s?verify=false"},
		{"SMTPS + PLAIN", true, smtptest.AuthPlain, "smtps://editor:%s@%s?verify=false&auth=plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, func(s *smtptest.Server) {
				s.Username, s.Password = "editor", secret
				s.Mechanisms = []string{tt.mech}
				s.TLS, s.Implicit = smtptest.SelfSignedTLS(t), tt.implicit
			})
			f := newFixture(t, 5)
			f.addStories(2, 50)
			s := f.sender(t, fmt.Sprintf(tt.url, secretURL, srv.Addr))
			s.Concurrency = 2
			sum, err := s.Send(f.ctx, f.edition("2026-11-28"), f.list)
			if err != nil || sum.Sent != 5 {
				t.Fatalf("%+v, %v", sum, err)
			}
			for _, m := range srv.Messages() {
				if !m.TLS {
					t.Fatalf("%s arrived without TLS", m.To[0])
				}
			}
			if got := srv.Logins()[tt.mech]; got != 2 {
				t.Errorf("%d logins with %s, want 2 (one per connection)", got, tt.mech)
			}
		})
	}
}

func TestSessionRefusedWithoutLeakingTheSecret(t *testing.T) {
	selfSigned := func(s *smtptest.Server) {
		s.Username, s.Password = "editor", secret
		s.Mechanisms = []string{smtptest.AuthPlain, smtptest.AuthLogin, smtptest.AuthCramMD5}
		s.TLS = smtptest.SelfSignedTLS(t)
	}
	tests := []struct {
		name      string
		configure func(*smtptest.Server)
		url       string
		want      string
		not       string // a wrong explanation the error must not give
	}{
		{"wrong password PLAIN", selfSigned, "smtp://editor:%s-nope@%s?verify=false&auth=plain", "refused the login", ""},
		{"wrong password LOGIN", selfSigned, "smtp://editor:%s-nope@%s?verify=false&auth=login", "refused the login", ""},
		{"wrong password CRAM-MD5", selfSigned, "smtp://editor:%s-nope@%s?verify=false&auth=cram-md5", "refused the login", ""},
		{"certificate not trusted", selfSigned, "smtp://editor:%s@%s", "TLS with", ""},
		{"STARTTLS required, not offered", func(s *smtptest.Server) { s.Username, s.Password = "editor", secret },
			"smtp://editor:%s@%s", "does not offer STARTTLS and the SMTP URL requires TLS", "certificate"},
		{"only PLAIN over plain text", func(s *smtptest.Server) { s.Username, s.Password = "editor", secret },
			"smtp://editor:%s@%s?tls=none", "the server offers only PLAIN over an unencrypted connection: add &auth=plain to the SMTP URL to allow it", "password"},
		{"auth=login, only PLAIN offered", func(s *smtptest.Server) { s.Username, s.Password = "editor", secret },
			"smtp://editor:%s@%s?tls=none&auth=login", "does not offer the mechanism auth=login asks for (it offers PLAIN)", "password"},
		{"no AUTH offered", nil, "smtp://editor:%s@%s?tls=none", "does not offer AUTH", "refused the login"},
		{"AUTH fails", func(s *smtptest.Server) {
			selfSigned(s)
			s.FailAuth.Store(true)
		}, "smtp://editor:%s@%s?verify=false", "refused the login", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.configure)
			f := newFixture(t, 3)
			f.addStories(2, 50)
			var logged strings.Builder
			s := f.sender(t, fmt.Sprintf(tt.url, secretURL, srv.Addr))
			s.Logf = func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) }
			sum, err := s.Send(f.ctx, f.edition("2026-11-28"), f.list)
			if !errors.Is(err, delivery.ErrConnect) || !errors.Is(err, delivery.ErrSessionRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want a refused session saying %q", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("err %v blames %q", err, tt.not)
			}
			for _, leak := range []string{secret, secretURL, "pa55"} {
				if strings.Contains(err.Error(), leak) || strings.Contains(logged.String(), leak) {
					t.Fatalf("the password shows: %v\n%s", err, logged.String())
				}
			}
			if !strings.Contains(err.Error(), "editor:***@") {
				t.Errorf("the error should name the redacted URL: %v", err)
			}
			if sum.Sent != 0 || srv.Accepted() != 0 {
				t.Errorf("sent %d, server accepted %d", sum.Sent, srv.Accepted())
			}
		})
	}
}

func TestSMTPConfigNeverPrintsThePassword(t *testing.T) {
	cfg, err := delivery.ParseSMTPURL("smtp://editor:" + secretURL + "@mail.example.com:587")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != secret {
		t.Fatalf("password %q not decoded", cfg.Password)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, cfg); strings.Contains(got, "pa55") {
			t.Errorf("%s prints the password: %s", format, got)
		}
	}
	_, err = delivery.ParseSMTPURL("smtp://editor:" + secretURL + "@mail.example.com:notaport")
	if err == nil || strings.Contains(err.Error(), "pa55") {
		t.Errorf("bad port: %v", err)
	}
}
