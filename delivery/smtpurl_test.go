package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want delivery.SMTPConfig
	}{
		{
			name: "user, password and port",
			in:   "smtp://user:pass@host:587",
			want: delivery.SMTPConfig{Host: "host", Port: 587, Username: "user", Password: "pass", TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "smtp default port 587",
			in:   "smtp://host",
			want: delivery.SMTPConfig{Host: "host", Port: 587, TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "smtps default port 465",
			in:   "smtps://host",
			want: delivery.SMTPConfig{Host: "host", Port: 465, SSL: true, TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "local test server without TLS",
			in:   "smtp://127.0.0.1:1025?tls=none",
			want: delivery.SMTPConfig{Host: "127.0.0.1", Port: 1025, TLS: "none", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "opportunistic TLS",
			in:   "smtp://host:25?tls=opportunistic",
			want: delivery.SMTPConfig{Host: "host", Port: 25, TLS: "opportunistic", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "percent-encoded password",
			in:   "smtp://u:p%40ss@h:25",
			want: delivery.SMTPConfig{Host: "h", Port: 25, Username: "u", Password: "p@ss", TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "percent-encoded user and colon in password",
			in:   "smtp://ann%40example.com:a%3Ab@h",
			want: delivery.SMTPConfig{Host: "h", Port: 587, Username: "ann@example.com", Password: "a:b", TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "auth plain",
			in:   "smtp://u:p@h?auth=plain",
			want: delivery.SMTPConfig{Host: "h", Port: 587, Username: "u", Password: "p", TLS: "required", Auth: "plain", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "auth login",
			in:   "smtp://u:p@h?auth=login",
			want: delivery.SMTPConfig{Host: "h", Port: 587, Username: "u", Password: "p", TLS: "required", Auth: "login", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "auth cram-md5",
			in:   "smtp://u:p@h?auth=cram-md5",
			want: delivery.SMTPConfig{Host: "h", Port: 587, Username: "u", Password: "p", TLS: "required", Auth: "cram-md5", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "smtps with tls=required",
			in:   "smtps://h:2465?tls=required",
			want: delivery.SMTPConfig{Host: "h", Port: 2465, SSL: true, TLS: "required", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
		{
			name: "timeout and verify",
			in:   "smtp://h?timeout=5s&verify=false",
			want: delivery.SMTPConfig{Host: "h", Port: 587, TLS: "required", Timeout: 5 * time.Second, FinalTimeout: 5 * time.Second, InsecureSkipVerify: true},
		},
		{
			name: "IPv6 host",
			in:   "smtp://[::1]:2525?tls=none",
			want: delivery.SMTPConfig{Host: "::1", Port: 2525, TLS: "none", Timeout: 30 * time.Second, FinalTimeout: 10 * time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := delivery.ParseSMTPURL(tt.in)
			if err != nil {
				t.Fatalf("ParseSMTPURL(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseSMTPURL(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSMTPURLRejects(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantMsg string // substring of the error
	}{
		{"http scheme", "http://host:587", "scheme"},
		{"no scheme", "host:587", "scheme"},
		{"no host", "smtp://:587", "host"},
		{"port not a number", "smtp://host:bad", ""},
		{"port zero", "smtp://host:0", "port"},
		{"port too large", "smtp://host:70000", "port"},
		{"tls bogus", "smtp://host?tls=bogus", "tls"},
		{"smtps with tls=none", "smtps://host?tls=none", "smtps"},
		{"smtps with tls=opportunistic", "smtps://host?tls=opportunistic", "smtps"},
		{"auth foo", "smtp://u:p@host?auth=foo", "auth"},
		{"bad timeout", "smtp://host?timeout=soon", "timeout"},
		{"negative timeout", "smtp://host?timeout=-5s", "timeout"},
		{"password with a slash, not escaped", "smtp://user:1025/x@host", "%2F"},
		{"password with a hash, not escaped", "smtp://user:1025#x@host", "%23"},
		{"no //", "smtp:user:pass@host", "@ after the host"},
		{"bare IPv6 colons", "smtp://u:p@::", "brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := delivery.ParseSMTPURL(tt.in)
			if err == nil {
				t.Fatalf("ParseSMTPURL(%q) = %+v, want error", tt.in, got)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestSMTPURLNeverShowsPassword(t *testing.T) {
	const secret = "s3cret"

	t.Run("String", func(t *testing.T) {
		tests := []struct {
			in, want string
		}{
			{"smtp://user:s3cret@host:587", "smtp://user:***@host:587"},
			{"smtps://user:s3cret@host", "smtps://user:***@host:465"},
			{"smtp://user:s3cret@127.0.0.1:1025?tls=none", "smtp://user:***@127.0.0.1:1025?tls=none"},
			{"smtp://host", "smtp://host:587"},
		}
		for _, tt := range tests {
			c, err := delivery.ParseSMTPURL(tt.in)
			if err != nil {
				t.Fatalf("ParseSMTPURL(%q): %v", tt.in, err)
			}
			got := c.String()
			if strings.Contains(got, secret) {
				t.Errorf("String() = %q shows the password", got)
			}
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, in := range []string{
			"smtp://user:s3cret@host:bad",
			"smtp://user:s3cret@host:99999",
			"smtp://user:s3cret@host:587?tls=bogus",
			"smtp://user:s3cret@host:587?auth=foo",
			"smtp://user:s3cret@host:587?timeout=x",
			"smtps://user:s3cret@host?tls=none",
			"smtp://user:s3cret@host%zz:587",
			"smtp://user:s3cret@:587",
			"ftp://user:s3cret@host",
			"smtp://user:s3cret@host:587\x7f",
			"smtp://user:1025/s3cret@host",
			"smtp://user:1025?x=s3cret@host",
			"smtp://user:1025#s3cret@host",
		} {
			_, err := delivery.ParseSMTPURL(in)
			if err == nil {
				t.Errorf("ParseSMTPURL(%q) succeeded, want error", in)
				continue
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseSMTPURL(%q) error %q shows the password", in, err)
			}
		}
	})
}
