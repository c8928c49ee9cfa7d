package bounces

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP flags digest sets: processed messages get \Seen and
// FlagProcessed (or move to the processed= folder); messages that are no
// report get FlagSkipped and stay unread for a person to look at.
const (
	FlagProcessed = "$DigestProcessed"
	FlagSkipped   = "$DigestSkipped"
)

// MaxFetch is how many messages one fetch round takes at most.
const MaxFetch = 500

// Mailbox is a parsed bounce_imap_url:
// imaps://user:pass@host[:993]/INBOX[?processed=Folder], or imap://...
// for STARTTLS (?tls=none for a local test server only).
type Mailbox struct {
	Host, User, Password, Name string
	Processed                  string
	implicitTLS, plain         bool
}

// ParseMailbox reads a bounce_imap_url.
func ParseMailbox(raw string) (Mailbox, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User == nil || (u.Scheme != "imaps" && u.Scheme != "imap") {
		return Mailbox{}, errors.New("bounce_imap_url is not like imaps://user:pass@host/INBOX")
	}
	m := Mailbox{Host: u.Host, User: u.User.Username(), Name: strings.TrimPrefix(u.Path, "/"), implicitTLS: u.Scheme == "imaps"}
	m.Password, _ = u.User.Password()
	if m.Name == "" {
		m.Name = "INBOX"
	}
	if u.Port() == "" {
		if m.implicitTLS {
			m.Host += ":993"
		} else {
			m.Host += ":143"
		}
	}
	q := u.Query()
	m.Processed = q.Get("processed")
	m.plain = q.Get("tls") == "none"
	return m, nil
}

// String shows the mailbox without its password.
func (m Mailbox) String() string {
	scheme := "imap"
	if m.implicitTLS {
		scheme = "imaps"
	}
	return scheme + "://" + url.User(m.User).String() + ":***@" + m.Host + "/" + m.Name
}

func (m Mailbox) dial() (*imapclient.Client, error) {
	host := m.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	opts := &imapclient.Options{TLSConfig: &tls.Config{ServerName: host}}
	switch {
	case m.implicitTLS:
		return imapclient.DialTLS(m.Host, opts)
	case m.plain:
		return imapclient.DialInsecure(m.Host, opts)
	default:
		return imapclient.DialStartTLS(m.Host, opts)
	}
}

// FetchResult counts one round.
type FetchResult struct {
	Processed, Skipped int
	Outcomes           []Outcome
}

// Fetch reads the unseen messages of the mailbox (at most MaxFetch),
// processes each, and marks or moves them: processed ones \Seen and
// FlagProcessed (or moved to the processed= folder), the rest
// FlagSkipped, left unread. A failure to apply stops the round with the
// message untouched, so the next round tries it again.
func (p *Processor) Fetch(ctx context.Context, m Mailbox) (FetchResult, error) {
	var res FetchResult
	c, err := m.dial()
	if err != nil {
		return res, fmt.Errorf("connect to %s: %v", m, err)
	}
	defer c.Close()
	if err := c.Login(m.User, m.Password).Wait(); err != nil {
		return res, fmt.Errorf("log in to %s: %s: check the user and password in bounce_imap_url", m, scrub(err.Error(), m.Password))
	}
	defer c.Logout()
	if _, err := c.Select(m.Name, nil).Wait(); err != nil {
		return res, fmt.Errorf("select %s: %v", m, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen, FlagSkipped, FlagProcessed}}, nil).Wait()
	if err != nil {
		return res, fmt.Errorf("search %s: %v", m, err)
	}
	uids := found.AllUIDs()
	if len(uids) > MaxFetch {
		uids = uids[:MaxFetch]
	}
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return res, fmt.Errorf("fetch from %s: %v", m, err)
		}
		if len(msgs) == 0 {
			continue
		}
		out, err := p.ProcessMessage(ctx, msgs[0].FindBodySection(section), SourceIMAP)
		if err != nil {
			return res, err
		}
		res.Outcomes = append(res.Outcomes, out)
		set := imap.UIDSetNum(uid)
		if out.Left {
			res.Skipped++
			err = c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{FlagSkipped}}, nil).Close()
		} else {
			res.Processed++
			err = c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, FlagProcessed}}, nil).Close()
			if err == nil && m.Processed != "" {
				_, err = c.Move(set, m.Processed).Wait()
			}
		}
		if err != nil {
			return res, fmt.Errorf("mark message in %s: %v", m, err)
		}
	}
	return res, nil
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "***")
}
