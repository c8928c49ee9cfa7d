package delivery

import (
	"context"
	"fmt"
	netmail "net/mail"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

// SendTest sends the edition to the given recipients only, with prefix
// (such as "[TEST]") before the subject, through the very path Send
// uses: the same message builder, the same DKIM signing, the same
// session code on one connection (opened, and its login checked, before
// the first message). It records nothing: no ledger row, no bounce
// count. sent is called after each recipient the server accepted.
func (s *Sender) SendTest(ctx context.Context, ed digest.Edition, list subscribers.List, rcpts []subscribers.Subscriber, prefix string, sent func(subscribers.Subscriber)) error {
	from, err := netmail.ParseAddress(list.From)
	if err != nil {
		return fmt.Errorf("list %s has an invalid sender %q: fix it with digest lists update --from", list.Name, list.From)
	}
	domain := domainOf(from.Address)
	sessions, err := s.sessions(1)
	if err != nil {
		return err
	}
	ss := sessions[0]
	defer ss.close()
	if smtp, ok := ss.(*smtpSession); ok {
		if err := smtp.connect(ctx); err != nil {
			return err
		}
	}
	tmpl := ed.Template()
	for i, r := range rcpts {
		m, err := BuildMessage(ed, Envelope{List: list, Sub: r, BaseURL: s.BaseURL, SubjectPrefix: prefix, Now: s.now(), Template: tmpl})
		if err != nil {
			return err
		}
		if s.DKIM != nil {
			m.SetDKIM(s.DKIM.Signer(domain))
		}
		key := fmt.Sprintf("test-%s-%s-%d", ed.Date, fileSafe(list.Name), i+1)
		if err := ss.deliver(ctx, key, goMailMsg{m}, nil); err != nil {
			return fmt.Errorf("test send to %s: %w (sent to %d of %d)", r.Email, err, i, len(rcpts))
		}
		if sent != nil {
			sent(r)
		}
	}
	return nil
}
