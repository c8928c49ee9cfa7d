package delivery

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig is a parsed SMTP URL. Password is never printed: String
// gives the redacted form.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// SSL is implicit TLS from the first byte (smtps://).
	SSL bool
	// TLS is the STARTTLS policy for smtp://: "required" (the default),
	// "opportunistic" or "none".
	TLS string
	// Auth is the SASL mechanism: "" (chosen from what the server offers),
	// "plain", "login" or "cram-md5".
	Auth string
	// Timeout bounds the wait for the connection and for each reply;
	// FinalTimeout the wait for the reply to the end of the message data,
	// which a relay may only give after its content checks (RFC 5321
	// 4.5.3.2.6 suggests 10 minutes). timeout= in the URL sets both.
	Timeout, FinalTimeout time.Duration
	// InsecureSkipVerify accepts any server certificate (?verify=false),
	// for test relays with self-signed certificates only.
	InsecureSkipVerify bool
}

// Defaults of the SMTP URL's timeout=: the wait for the connection and
// each reply, and the wait for the reply to the end of the data.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultFinalTimeout = 10 * time.Minute
)

// ParseSMTPURL reads an SMTP URL in the style of Symfony Mailer DSNs:
//
//	smtp://user:pass@host:587            STARTTLS required (default port 587)
//	smtps://user:pass@host:465           implicit TLS (default port 465)
//	smtp://127.0.0.1:1025?tls=none       plain text, for a local test server
//
// Query parameters: tls=required|opportunistic|none, auth=plain|login|cram-md5,
// timeout=30s (the wait for each reply; default 30s, and 10m for the
// reply to the end of the message data), verify=false. User and password are URL-decoded, so a
// password with @ or : is written %40 or %3A.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url's error quotes the whole URL, password included.
		return c, errors.New("smtp url is malformed: use smtp://user:pass@host:587 or smtps://host:465")
	}
	if strings.Contains(u.Opaque+u.Path+u.RawQuery+u.Fragment, "@") {
		// A user name or password with / ? or # written as is ends the
		// host part early: what follows, part of the password, must be
		// neither echoed nor taken for a host, port or parameter.
		return c, errors.New("smtp url has an @ after the host: in the user name and password write / ? # @ as %2F %3F %23 %40")
	}
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.SSL, c.Port = true, 465
	default:
		return c, fmt.Errorf("smtp url scheme %q is not supported: use smtp:// or smtps://", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, errors.New("smtp url has no host: use smtp://host:port")
	}
	if strings.Contains(c.Host, ":") && net.ParseIP(c.Host) == nil {
		// url takes smtp://:: for host ":", which no relay has and which
		// String could not print back.
		return c, errors.New("smtp url host is not a host name or IP address: write an IPv6 address in brackets, like smtp://[::1]:25")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("smtp url port %q is not a port number", p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q := u.Query()
	c.TLS = "required"
	if v := q.Get("tls"); v != "" {
		switch v {
		case "required", "starttls":
			c.TLS = "required"
		case "opportunistic":
			c.TLS = "opportunistic"
		case "none", "off", "false":
			c.TLS = "none"
		default:
			return c, fmt.Errorf("smtp url tls=%q is not one of required, opportunistic, none", v)
		}
	}
	if c.SSL && c.TLS != "required" {
		return c, errors.New("smtp url: smtps:// is always encrypted; drop the tls parameter or use smtp://")
	}
	switch a := strings.ToLower(q.Get("auth")); a {
	case "", "plain", "login", "cram-md5":
		c.Auth = a
	default:
		return c, fmt.Errorf("smtp url auth=%q is not one of plain, login, cram-md5", a)
	}
	c.Timeout, c.FinalTimeout = DefaultTimeout, DefaultFinalTimeout
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("smtp url timeout=%q is not a duration like 30s", v)
		}
		c.Timeout, c.FinalTimeout = d, d
	}
	if q.Get("verify") == "false" {
		c.InsecureSkipVerify = true
	}
	return c, nil
}

// String is the URL without the password, fit for logs and messages.
func (c SMTPConfig) String() string {
	scheme := "smtp"
	if c.SSL {
		scheme = "smtps"
	}
	user := ""
	if c.Username != "" {
		user = url.User(c.Username).String() + ":***@"
	}
	s := scheme + "://" + user + net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	if !c.SSL && c.TLS != "required" {
		s += "?tls=" + c.TLS
	}
	return s
}

// clientOptions translates the URL into go-mail options.
func (c SMTPConfig) clientOptions() []mail.Option {
	opts := []mail.Option{mail.WithPort(c.Port), mail.WithTimeout(c.Timeout)}
	switch {
	case c.SSL:
		opts = append(opts, mail.WithSSL())
	case c.TLS == "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case c.TLS == "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	// No SMTP AUTH here: the session logs in itself (login in
	// auth.go), so it can say which mechanisms the server offers when
	// none fits.
	return opts
}

// finalTimeout is FinalTimeout, or its default for a config not made by
// ParseSMTPURL.
func (c SMTPConfig) finalTimeout() time.Duration {
	if c.FinalTimeout > 0 {
		return c.FinalTimeout
	}
	return DefaultFinalTimeout
}

// GoString keeps %#v from printing the password.
func (c SMTPConfig) GoString() string { return "delivery.SMTPConfig(" + c.String() + ")" }

// redact removes the password, in clear and in the base64 forms SASL
// sends, from text that came from the server or the network stack.
func (c SMTPConfig) redact(s string) string {
	if c.Password == "" {
		return s
	}
	for _, secret := range []string{
		c.Password,
		base64.StdEncoding.EncodeToString([]byte(c.Password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + c.Username + "\x00" + c.Password)),
		url.QueryEscape(c.Password),
	} {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}
