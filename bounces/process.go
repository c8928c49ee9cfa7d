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

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/ledger"
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
		ref, err := toRef(ledger.ByID(ctx, p.DB, id))
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
		ref, err := toRef(ledger.ByMessageID(ctx, p.DB, rep.OriginalMessageID))
		if err != nil || ref != nil {
			return ref, "", err
		}
	}
	if forged {
		return nil, "has a VERP address with a bad HMAC: ignored", nil
	}
	return nil, "names no delivery digest made (no VERP address, no known Message-ID)", nil
}

// toRef turns a ledger row into the reference a VERP address covers.
func toRef(d *ledger.Delivery, err error) (*DeliveryRef, error) {
	if d == nil || err != nil {
		return nil, err
	}
	r := DeliveryRef(*d)
	return &r, nil
}

// latestDelivery is the last delivery sent to the address, for a webhook
// event that names only the recipient.
func latestDelivery(ctx context.Context, q store.Querier, email, messageID string) (*DeliveryRef, int64, error) {
	subID, err := subscribers.IDByEmail(ctx, q, email)
	if err != nil || subID == 0 {
		return nil, 0, err
	}
	d, err := toRef(ledger.LatestSent(ctx, q, subID, messageID))
	if err != nil {
		return nil, 0, err
	}
	return d, subID, nil
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
		if ref, subID, err = latestDelivery(ctx, tx, ev.Email, ev.MessageID); err != nil {
			return out, err
		}
	}
	var listID, editionID any
	var lid int64 // the list's id, 0 without a delivery
	var email string
	if ref != nil {
		subID = ref.SubscriberID
		var err error
		if lid, err = digest.EditionList(ctx, tx, ref.EditionID); err != nil {
			return out, err
		}
		listID, editionID = lid, ref.EditionID
	}
	if subID != 0 {
		var err error
		if email, err = subscribers.EmailByID(ctx, tx, subID); err != nil {
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
	// through this list), the event acts on every list the person is on
	// (lid 0). The status change is subscribers' SQL, in this
	// transaction, so that it commits with the event.
	set := func(status string) ([]int64, error) {
		if subID == 0 {
			return nil, nil
		}
		return subscribers.EndActive(ctx, tx, subID, lid, status, now.Unix())
	}
	switch ev.Kind {
	case Hard:
		changed, err := set(subscribers.StatusBounced)
		if err != nil {
			return out, err
		}
		if _, err := subscribers.Suppress(ctx, tx, email, subscribers.SuppressHardBounce, ev.Status, now); err != nil {
			return out, err
		}
		out.Text = fmt.Sprintf("hard bounce%s for %s: %d membership(s) marked bounced, address suppressed", withStatus(ev.Status), email, len(changed))
	case Soft:
		if listID == nil || subID == 0 {
			out.Text = fmt.Sprintf("soft bounce%s for %s counted (no edition: it does not count toward the %d-in-%d rule)", withStatus(ev.Status), email, SoftLimit, SoftWindow)
			return out, nil
		}
		soft, err := softBounces(ctx, tx, subID, lid)
		if err != nil {
			return out, err
		}
		if soft >= SoftLimit {
			changed, err := set(subscribers.StatusBounced)
			if err != nil {
				return out, err
			}
			out.Text = fmt.Sprintf("soft bounce%s for %s: %d in the last %d editions, %d membership(s) marked bounced", withStatus(ev.Status), email, soft, SoftWindow, len(changed))
		} else {
			out.Text = fmt.Sprintf("soft bounce%s for %s: %d in the last %d editions (bounced at %d)", withStatus(ev.Status), email, soft, SoftWindow, SoftLimit)
		}
	case Complaint:
		lists, err := set(subscribers.StatusUnsubscribed)
		if err != nil {
			return out, err
		}
		if _, err := subscribers.Suppress(ctx, tx, email, subscribers.SuppressComplaint, "", now); err != nil {
			return out, err
		}
		if err := recordUnsubscribes(ctx, tx, subID, lists, MethodComplaint, ev.Source, ev.Key+"/unsubscribe", now); err != nil {
			return out, err
		}
		out.Text = fmt.Sprintf("complaint from %s: %d membership(s) unsubscribed, address suppressed", email, len(lists))
	default:
		return out, fmt.Errorf("unknown event kind %q", ev.Kind)
	}
	return out, nil
}

// withStatus is " 5.1.1", or nothing for a bounce that gave no code
// (a non-standard bounce read by its wording).
func withStatus(status string) string {
	if status == "" {
		return ""
	}
	return " " + status
}

// softBounces counts the editions, among the list's last SoftWindow,
// for which the subscriber soft-bounced.
func softBounces(ctx context.Context, q store.Querier, subID, listID int64) (int, error) {
	ids, err := digest.RecentEditionIDs(ctx, q, listID, SoftWindow)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	args := []any{subID, string(Soft)}
	for _, id := range ids {
		args = append(args, id)
	}
	var n int
	err = q.QueryRowContext(ctx, `SELECT COUNT(DISTINCT edition_id) FROM feedback_events
		WHERE subscriber_id = ? AND kind = ? AND edition_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...).Scan(&n)
	return n, err
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
		last, err := ledger.LastSentEdition(ctx, q, subID, l)
		if err != nil {
			return fmt.Errorf("record unsubscribe: %w", err)
		}
		var ed any
		if last != 0 {
			ed = last
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO feedback_events (event_key, source, kind, method, list_id, edition_id, subscriber_id, created_at)
			VALUES (?, ?, 'unsubscribe', ?, ?, ?, ?, ?)
			ON CONFLICT (event_key) DO NOTHING`, k, source, method, l, ed, subID, now.Unix()); err != nil {
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
