package delivery

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	gosmtp "github.com/wneessen/go-mail/smtp"
)

// Mechanisms chosen when the SMTP URL names none, best first. Over an
// unencrypted connection only those that never send the password
// itself are chosen; PLAIN and LOGIN there need an explicit auth=.
var (
	autoMechs      = []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"}
	autoMechsNoTLS = []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"}
)

// login authenticates an open connection with the URL's user and
// password. It does what go-mail's own AUTH step would, but reads the
// server's offer first, so a failure says what happened: the server
// offers no AUTH, not the mechanism asked for, only mechanisms that would
// send the password in clear, or it refused the credentials.
func (c SMTPConfig) login(conn *gosmtp.Client) error {
	_, tlsErr := conn.GetTLSConnectionState()
	encrypted := tlsErr == nil
	ok, offer := conn.Extension("AUTH")
	offered := strings.Fields(strings.ToUpper(offer))
	if !ok || len(offered) == 0 {
		hint := "remove the user and password from the SMTP URL if the relay needs no login, or check the host and port"
		if !encrypted {
			hint = "many relays offer AUTH only after STARTTLS: drop tls=none, or remove the user and password from the SMTP URL if the relay needs no login"
		}
		return c.refused("%s does not offer AUTH, so it takes no user and password: %s", c, hint)
	}
	mech := strings.ToUpper(c.Auth)
	switch {
	case mech != "" && !slices.Contains(offered, mech):
		return c.refused("%s does not offer the mechanism auth=%s asks for (it offers %s): set auth= in the SMTP URL to one of those, or drop it to choose automatically",
			c, c.Auth, strings.Join(offered, " "))
	case mech == "":
		prefer := autoMechs
		if !encrypted {
			prefer = autoMechsNoTLS
		}
		for _, m := range prefer {
			if slices.Contains(offered, m) {
				mech = m
				break
			}
		}
	}
	if mech == "" {
		for _, clear := range []string{"PLAIN", "LOGIN"} {
			if !encrypted && slices.Contains(offered, clear) {
				return c.refused("%s: the server offers only %s over an unencrypted connection: add &auth=%s to the SMTP URL to allow it",
					c, strings.Join(offered, " "), strings.ToLower(clear))
			}
		}
		return c.refused("%s offers AUTH %s, none of which digest speaks: use a relay that offers PLAIN, LOGIN or CRAM-MD5", c, strings.Join(offered, " "))
	}
	var a gosmtp.Auth
	switch mech {
	case "PLAIN":
		// The choice to send it over this connection was made above.
		a = gosmtp.PlainAuth("", c.Username, c.Password, c.Host, true)
	case "LOGIN":
		a = gosmtp.LoginAuth(c.Username, c.Password, c.Host, true)
	case "CRAM-MD5":
		a = gosmtp.CRAMMD5Auth(c.Username, c.Password)
	case "SCRAM-SHA-256":
		a = gosmtp.ScramSHA256Auth(c.Username, c.Password)
	case "SCRAM-SHA-1":
		a = gosmtp.ScramSHA1Auth(c.Username, c.Password)
	}
	err := conn.Auth(a)
	if err == nil {
		return nil
	}
	msg := c.redact(oneLine(err.Error()))
	var tp *textproto.Error
	switch {
	case errors.As(err, &tp) && (tp.Code == 504 || tp.Code == 534 || tp.Code == 538):
		return c.refused("%s refused the mechanism %s (%s): set auth= in the SMTP URL to another one it offers (%s)", c, mech, msg, strings.Join(offered, " "))
	case errors.As(err, &tp) && tp.Code >= 500:
		return c.refused("%s refused the login (%s): check the user and password in the SMTP URL", c, msg)
	default:
		// 454 and network errors: the next attempt may get through.
		return &connectError{msg: fmt.Sprintf("%s: login at %s failed (%s)", ErrConnect, c, msg)}
	}
}

// refused is a connect error that retrying will not mend.
func (c SMTPConfig) refused(format string, args ...any) error {
	return &connectError{refused: true, msg: ErrConnect.Error() + ": " + fmt.Sprintf(format, args...)}
}
