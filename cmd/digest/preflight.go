package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/subscribers"
)

// errRefused ends a send or serve whose configuration would mail
// placeholders or broken links through a real relay; the reasons were
// printed one line each before it.
var errRefused = errors.New("refused")

// preflight runs every configuration check a send needs before an
// edition is built or stored: the SMTP URL, the DKIM key (readable and
// able to sign), the list and its sender. When the messages go to a real
// relay (not the outbox, not a test send) the list must also have a real
// sender and postal address, and the base URL must be public https
// unless allowInsecure. It returns the transport to use; the caller
// closes it.
func (a *App) preflight(listName string, test, allowInsecure bool) (delivery.Transport, subscribers.List, error) {
	transport, err := a.transport()
	if err != nil {
		return nil, subscribers.List{}, err
	}
	fail := func(err error) (delivery.Transport, subscribers.List, error) {
		transport.Close()
		return nil, subscribers.List{}, err
	}
	if _, err := a.loadDKIM(); err != nil {
		return fail(err)
	}
	list, err := a.listOf(listName)
	if err != nil {
		return fail(err)
	}
	if _, err := subscribers.NormalizeFrom(list.From); err != nil {
		return fail(fmt.Errorf("list %s: %w; fix it with digest lists update %s --from", list.Name, err, list.Name))
	}
	if _, outbox := transport.(delivery.Outbox); outbox || test {
		return transport, list, nil
	}
	problems := list.SenderProblems()
	if !allowInsecure {
		problems = append(problems, baseURLProblems(a.cfg.BaseURL)...)
	}
	if err := a.refuse(problems, "send list "+list.Name+" through "+transport.String()); err != nil {
		return fail(err)
	}
	return transport, list, nil
}

// refuse prints each problem on its own line and returns errRefused
// when there is any.
func (a *App) refuse(problems []string, what string) error {
	if len(problems) == 0 {
		return nil
	}
	for _, p := range problems {
		fmt.Fprintf(a.stderr, "digest: %s\n", p)
	}
	fix := "the problem"
	if len(problems) > 1 {
		fix = fmt.Sprintf("the %d problems", len(problems))
	}
	return fmt.Errorf("%w to %s: fix %s above first (nothing was built or sent)", errRefused, what, fix)
}

// loadDKIM reads and checks the configured DKIM key (nil when none). A
// key file that cannot be read is a missing file (exit 1); one that is
// no usable key, a usage error.
func (a *App) loadDKIM() (*delivery.DKIM, error) {
	d, err := delivery.LoadDKIM(delivery.DKIMConfig{KeyFile: a.cfg.DKIM.KeyFile, Selector: a.cfg.DKIM.Selector, Domain: a.cfg.DKIM.Domain})
	var unreadable *fs.PathError
	if errors.As(err, &unreadable) {
		// The bare open error names neither the setting nor the fix.
		return nil, fmt.Errorf("dkim key file %s cannot be read (%w): point key_file in [dkim] of digest.toml or DIGEST_DKIM_KEY_FILE at the PEM private key",
			unreadable.Path, unreadable.Err)
	} else if err != nil {
		return nil, usageError{err}
	}
	return d, nil
}

// baseURLProblems says why links built on base would not work for
// subscribers: not https (no one-click unsubscribe, links in clear), or
// a loopback or unspecified host only this machine reaches.
func baseURLProblems(base string) []string {
	const fix = "set the public address with --base-url https://news.example.com/digest (DIGEST_BASE_URL, base_url in digest.toml), or add --allow-insecure-links for a local relay such as Mailpit"
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return []string{fmt.Sprintf("the base URL %q is not a URL: %s", base, fix)}
	}
	host := strings.ToLower(u.Hostname())
	var out []string
	if u.Scheme != "https" {
		out = append(out, fmt.Sprintf("the base URL %s is not https, so unsubscribe links would travel in clear and providers offer no one-click unsubscribe: %s", base, fix))
	}
	ip := net.ParseIP(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
		out = append(out, fmt.Sprintf("the base URL %s points at this machine or a private network, so subscribers' links would lead nowhere: %s", base, fix))
	}
	return out
}
