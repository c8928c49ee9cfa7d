package bounces

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// Sources of events, as recorded.
const (
	SourcePipe     = "pipe"
	SourceIMAP     = "imap"
	SourceSES      = "ses"
	SourcePostmark = "postmark"
	SourceMailgun  = "mailgun"
	SourceSendGrid = "sendgrid"
	SourceWeb      = "web"
)

// Unsubscribe methods, as the edition report shows them.
const (
	MethodOneClick  = "one-click"
	MethodLink      = "link"
	MethodMail      = "mail"
	MethodComplaint = "complaint"
)

// Soft bounce rule: SoftLimit soft bounces in the list's last
// SoftWindow editions mark the membership bounced.
const (
	SoftLimit  = 3
	SoftWindow = 5
)

// Processor applies reports and events to the store.
type Processor struct {
	DB *store.DB
	// Key is the VERP HMAC key (secret.Key with secret.UseVERP).
	Key []byte
	Now func() time.Time
	// Logf, when set, hears what was ignored and why (forged VERP
	// addresses among them).
	Logf func(format string, args ...any)
}

// Outcome says what processing one message or event did, in one line.
type Outcome struct {
	Kind Kind
	// Changed is false when nothing was written (not a report, a
	// duplicate, a forged address).
	Changed bool
	// Left is true when a mailbox should keep the message as it is (not
	// a report, or nothing it names): it is not marked processed.
	Left bool
	Text string
}

func (o Outcome) String() string { return o.Text }

// Event is one bounce, complaint or unsubscribe to apply, from a
// message or a webhook.
type Event struct {
	// Key makes the event idempotent: the same key twice counts once.
	Key    string
	Source string
	Kind   Kind
	Status string
	// Delivery, when known, names the delivery the event is about;
	// otherwise Email (a webhook's recipient) is looked up, and the
	// latest delivery sent to it is taken.
	Delivery *DeliveryRef
	Email    string
	// MessageID is the Message-ID digest gave the message, when the
	// event quotes it.
	MessageID string
	Method    string
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Processor) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// ErrNotReport is the outcome's text for a message that is no report.
const notReport = "not a delivery report: left in the mailbox"

// ProcessMessage classifies one message and applies what it reports.
func (p *Processor) ProcessMessage(ctx context.Context, raw []byte, source string) (Outcome, error) {
	rep, err := Classify(bytes.NewReader(raw))
	if errors.Is(err, ErrNotMessage) {
		return Outcome{Kind: NotReport, Left: true, Text: "not an email message: " + notReport}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	switch rep.Kind {
	case NotReport:
		return Outcome{Kind: NotReport, Left: true, Text: notReport}, nil
	case None:
		return Outcome{Kind: None, Text: "a " + rep.Format + " report that asks for nothing (" + noneWhy(rep) + ")"}, nil
	case Unsubscribe:
		return p.unsubscribeByMail(ctx, rep, source, raw)
	}
	ref, how, err := p.findDelivery(ctx, rep)
	if err != nil {
		return Outcome{}, err
	}
	if ref == nil {
		p.logf("%s %s: %s", rep.Kind, describe(rep), how)
		return Outcome{Kind: rep.Kind, Left: true, Text: fmt.Sprintf("%s report (%s) %s: left in the mailbox", rep.Kind, describe(rep), how)}, nil
	}
	return p.Apply(ctx, Event{Key: messageKey(rep, raw, source), Source: source, Kind: rep.Kind, Status: rep.Status, Delivery: ref})
}

func noneWhy(rep Report) string {
	if rep.Format == "arf" {
		return "feedback type " + rep.FeedbackType
	}
	return "no failed recipient"
}

func describe(rep Report) string {
	s := rep.Format
	if len(rep.Recipients) > 0 && rep.Recipients[0].Email != "" {
		s += " for " + rep.Recipients[0].Email
	}
	if rep.Status != "" {
		s += " " + rep.Status
	}
	return s
}

// messageKey identifies a report message: its Message-ID, or its bytes.
func messageKey(rep Report, raw []byte, source string) string {
	if rep.MessageID != "" {
		return "msg:" + rep.MessageID
	}
	sum := sha256.Sum256(raw)
	return "msg-sha256:" + hex.EncodeToString(sum[:])
}

// findDelivery names the delivery a report is about: by a VERP address
// whose HMAC verifies, or by the Message-ID digest gave the original
// (64 random bits each: neither can be guessed). A report naming
// neither is not trusted with anyone's membership.
func (p *Processor) findDelivery(ctx context.Context, rep Report) (*DeliveryRef, string, error) {
	forged := false
	for _, a := range rep.Envelope {
		id, mac, ok := ParseVERP(a)
		if !ok {
			continue
		}
		ref, err := p.delivery(ctx, `d.id = ?`, id)
		if err != nil {
			return nil, "", err
		}
		if ref != nil && VerifyVERP(p.Key, *ref, mac) {
			return ref, "", nil
		}
		forged = true
		p.logf("VERP address %s ignored: its HMAC does not match a delivery (forged, or from another database)", a)
	}
	if rep.OriginalMessageID != "" {
		ref, err := p.delivery(ctx, `d.message_id = ?`, strings.Trim(rep.OriginalMessageID, "<>"))
		if err != nil || ref != nil {
			return ref, "", err
		}
	}
	if forged {
		return nil, "has a VERP address with a bad HMAC: ignored", nil
	}
	return nil, "names no delivery digest made (no VERP address, no known Message-ID)", nil
}

func (p *Processor) delivery(ctx context.Context, where string, arg any) (*DeliveryRef, error) {
	var d DeliveryRef
	err := p.DB.QueryRowContext(ctx, `SELECT d.id, d.edition_id, d.subscriber_id FROM deliveries d WHERE `+where, arg).
		Scan(&d.ID, &d.EditionID, &d.SubscriberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find delivery: %w", err)
	}
	return &d, nil
}

// latestDelivery is the last delivery sent to the address, for a webhook
// event that names only the recipient.
func (p *Processor) latestDelivery(ctx context.Context, q store.Querier, email, messageID string) (*DeliveryRef, int64, error) {
	var subID int64
	err := q.QueryRowContext(ctx, `SELECT id FROM subscribers WHERE email = ?`, strings.TrimSpace(email)).Scan(&subID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var d DeliveryRef
	err = q.QueryRowContext(ctx, `SELECT id, edition_id, subscriber_id FROM deliveries
		WHERE subscriber_id = ? AND status = 'sent' ORDER BY (message_id = ?) DESC, updated_at DESC, id DESC LIMIT 1`,
		subID, strings.Trim(messageID, "<>")).Scan(&d.ID, &d.EditionID, &d.SubscriberID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, subID, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return &d, subID, nil
}

// Apply records the event and acts on it, in one transaction: a hard
// bounce marks the membership bounced and suppresses the address; a soft
// one counts, and SoftLimit of them in the list's last SoftWindow
// editions mark it bounced; a complaint unsubscribes and suppresses. An
// event whose key was seen before changes nothing.
func (p *Processor) Apply(ctx context.Context, ev Event) (Outcome, error) {
	var out Outcome
	now := p.now()
	err := store.RetryBusy(ctx, subscribers.WriteRetry, func() error {
		return p.DB.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			out, err = p.apply(ctx, tx, ev, now)
			return err
		})
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("apply %s: %w", ev.Kind, err)
	}
	return out, nil
}

func (p *Processor) apply(ctx context.Context, tx *sql.Tx, ev Event, now time.Time) (Outcome, error) {
	out := Outcome{Kind: ev.Kind}
	ref := ev.Delivery
	var subID int64
	if ref == nil && ev.Email != "" {
		var err error
		if ref, subID, err = p.latestDelivery(ctx, tx, ev.Email, ev.MessageID); err != nil {
			return out, err
		}
	}
	var listID, editionID any
	var email string
	if ref != nil {
		subID = ref.SubscriberID
		var lid int64
		if err := tx.QueryRowContext(ctx, `SELECT e.list_id FROM editions e WHERE e.id = ?`, ref.EditionID).Scan(&lid); err != nil {
			return out, err
		}
		listID, editionID = lid, ref.EditionID
	}
	if subID != 0 {
		if err := tx.QueryRowContext(ctx, `SELECT email FROM subscribers WHERE id = ?`, subID).Scan(&email); err != nil {
			return out, err
		}
	} else {
		email = ev.Email
	}
	if subID == 0 && email == "" {
		out.Left, out.Text = true, fmt.Sprintf("%s event names no subscriber: nothing to do", ev.Kind)
		return out, nil
	}
	var sub any
	if subID != 0 {
		sub = subID
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO feedback_events (event_key, source, kind, method, list_id, edition_id, subscriber_id, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key) DO NOTHING`,
		ev.Key, ev.Source, string(ev.Kind), ev.Method, listID, editionID, sub, ev.Status, now.Unix())
	if err != nil {
		return out, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		out.Text = fmt.Sprintf("%s for %s already processed: nothing changed", ev.Kind, email)
		return out, nil
	}
	out.Changed = true
	// Without a delivery (a webhook for an address digest never sent to
	// through this list), the event acts on every list the person is on.
	scope, scopeArgs := `subscriber_id = ?`, []any{subID}
	if listID != nil {
		scope, scopeArgs = `subscriber_id = ? AND list_id = ?`, []any{subID, listID}
	}
	set := func(status string) (int64, error) {
		if subID == 0 {
			return 0, nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE memberships SET status = ?, updated_at = ? WHERE `+scope+` AND status = 'active'`,
			append([]any{status, now.Unix()}, scopeArgs...)...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	switch ev.Kind {
	case Hard:
		n, err := set(subscribers.StatusBounced)
		if err != nil {
			return out, err
		}
		if _, err := subscribers.Suppress(ctx, tx, email, subscribers.SuppressHardBounce, ev.Status, now); err != nil {
			return out, err
		}
		out.Text = fmt.Sprintf("hard bounce %s for %s: %d membership(s) marked bounced, address suppressed", ev.Status, email, n)
	case Soft:
		if listID == nil || subID == 0 {
			out.Text = fmt.Sprintf("soft bounce %s for %s counted (no edition: it does not count toward the %d-in-%d rule)", ev.Status, email, SoftLimit, SoftWindow)
			return out, nil
		}
		var soft int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT f.edition_id) FROM feedback_events f
			WHERE f.subscriber_id = ? AND f.kind = 'soft' AND f.edition_id IN
			(SELECT id FROM editions WHERE list_id = ? ORDER BY date DESC LIMIT ?)`, subID, listID, SoftWindow).Scan(&soft); err != nil {
			return out, err
		}
		if soft >= SoftLimit {
			n, err := set(subscribers.StatusBounced)
			if err != nil {
				return out, err
			}
			out.Text = fmt.Sprintf("soft bounce %s for %s: %d in the last %d editions, %d membership(s) marked bounced", ev.Status, email, soft, SoftWindow, n)
		} else {
			out.Text = fmt.Sprintf("soft bounce %s for %s: %d in the last %d editions (bounced at %d)", ev.Status, email, soft, SoftWindow, SoftLimit)
		}
	case Complaint:
		lists, err := p.activeLists(ctx, tx, scope, scopeArgs)
		if err != nil {
			return out, err
		}
		n, err := set(subscribers.StatusUnsubscribed)
		if err != nil {
			return out, err
		}
		if _, err := subscribers.Suppress(ctx, tx, email, subscribers.SuppressComplaint, "", now); err != nil {
			return out, err
		}
		if err := recordUnsubscribes(ctx, tx, subID, lists, MethodComplaint, ev.Source, ev.Key+"/unsubscribe", now); err != nil {
			return out, err
		}
		out.Text = fmt.Sprintf("complaint from %s: %d membership(s) unsubscribed, address suppressed", email, n)
	default:
		return out, fmt.Errorf("unknown event kind %q", ev.Kind)
	}
	return out, nil
}

func (p *Processor) activeLists(ctx context.Context, tx *sql.Tx, scope string, args []any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT list_id FROM memberships WHERE `+scope+` AND status = 'active'`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// recordUnsubscribes records one unsubscribe event per list, attributed
// to the last edition of the list sent to the subscriber (the one the
// reader most likely acted on).
func recordUnsubscribes(ctx context.Context, q store.Querier, subID int64, lists []int64, method, source, key string, now time.Time) error {
	for _, l := range lists {
		var k any
		if key != "" {
			k = fmt.Sprintf("%s/%d", key, l)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO feedback_events (event_key, source, kind, method, list_id, edition_id, subscriber_id, created_at)
			VALUES (?, ?, 'unsubscribe', ?, ?, (SELECT d.edition_id FROM deliveries d JOIN editions e ON e.id = d.edition_id
				WHERE d.subscriber_id = ? AND e.list_id = ? AND d.status = 'sent' ORDER BY e.date DESC LIMIT 1), ?, ?)
			ON CONFLICT (event_key) DO NOTHING`, k, source, method, l, subID, l, subID, now.Unix()); err != nil {
			return fmt.Errorf("record unsubscribe: %w", err)
		}
	}
	return nil
}

// RecordUnsubscribe records unsubscribes that happened elsewhere (the
// web's one-click and page button): one event per list, for the edition
// report. lists are the ids of the memberships that changed.
func RecordUnsubscribe(ctx context.Context, db *store.DB, subID int64, lists []int64, method string) error {
	return recordUnsubscribes(ctx, db, subID, lists, method, SourceWeb, "", time.Now())
}

// unsubscribeByMail applies an unsubscribe+TOKEN@ message: the reader
// leaves the list named in the subject ("unsubscribe daily", as the
// mailto sets it), or every list when the subject names none of theirs.
func (p *Processor) unsubscribeByMail(ctx context.Context, rep Report, source string, raw []byte) (Outcome, error) {
	subs := &subscribers.Store{DB: p.DB, Now: p.Now}
	all, err := subs.MembershipsByToken(ctx, rep.Token, "")
	if errors.Is(err, subscribers.ErrUnknownToken) {
		p.logf("unsubscribe request with an unknown token ignored")
		return Outcome{Kind: Unsubscribe, Text: "unsubscribe request with an unknown token: nothing changed"}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	list := ""
	for _, w := range strings.Fields(rep.Subject) {
		for _, m := range all {
			if strings.EqualFold(w, m.List.Name) {
				list = m.List.Name
			}
		}
	}
	before := map[int64]string{}
	for _, m := range all {
		before[m.List.ID] = m.Status
	}
	after, err := subs.UnsubscribeByToken(ctx, rep.Token, list)
	if err != nil {
		return Outcome{}, err
	}
	var changed []int64
	var names []string
	var subID int64
	for _, m := range after {
		if before[m.List.ID] == subscribers.StatusActive && m.Status == subscribers.StatusUnsubscribed {
			changed = append(changed, m.List.ID)
			names = append(names, m.List.Name)
		}
	}
	if len(changed) == 0 {
		return Outcome{Kind: Unsubscribe, Text: "unsubscribe request by mail: already unsubscribed, nothing changed"}, nil
	}
	sub, err := subs.ByToken(ctx, rep.Token)
	if err == nil {
		subID = sub.ID
		err = recordUnsubscribes(ctx, p.DB, subID, changed, MethodMail, source, messageKey(rep, raw, source), p.now())
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Kind: Unsubscribe, Changed: true, Text: "unsubscribed by mail from " + strings.Join(names, ", ")}, nil
}
