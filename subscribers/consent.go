package subscribers

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
)

// Sources of a membership change, as consent records name them.
const (
	SourceForm        = "form"
	SourceAPI         = "api"
	SourceCLI         = "cli"
	SourceImport      = "import"
	SourceOneClick    = "one-click"
	SourcePreferences = "preferences"
)

// Actions of a consent record.
const (
	ActionSubscribed   = "subscribed"   // made an active member without a confirmation (cli, import)
	ActionSignup       = "signup"       // asked to subscribe (the pending sign-up, recorded when confirmed)
	ActionConfirmed    = "confirmed"    // confirmed by the link's POST: active
	ActionUnsubscribed = "unsubscribed" // stopped
	ActionResubscribed = "resubscribed" // active again after an unsubscribe
	ActionBounced      = "bounced"      // an import set the membership bounced
	ActionPreferences  = "preferences"  // sections, frequency or pause changed
)

// ConsentEvent is one change of a membership, kept as proof of consent
// (or of its withdrawal). IP and UserAgent are empty unless record_ip is
// on.
type ConsentEvent struct {
	At             time.Time `json:"at"`
	List           string    `json:"list"`
	Action         string    `json:"action"`
	Source         string    `json:"source"`
	ConsentVersion string    `json:"consent_version,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	IP             string    `json:"ip,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
}

// ConsentVersion names a consent wording by its content: the first 12
// hex digits of its SHA-256. Changing one character of the text shown
// makes a new version, so a record says exactly what the person read.
func ConsentVersion(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:6])
}

// maxUserAgent caps what a consent record keeps of a User-Agent header.
const maxUserAgent = 300

func recordEvent(ctx context.Context, q store.Querier, subID int64, e ConsentEvent) error {
	if len(e.UserAgent) > maxUserAgent {
		e.UserAgent = e.UserAgent[:maxUserAgent]
	}
	_, err := q.ExecContext(ctx, `INSERT INTO consent_events (subscriber_id, list, action, source, consent_version, detail, ip, user_agent, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, subID, e.List, e.Action, e.Source, e.ConsentVersion, e.Detail, CleanName(e.IP), CleanName(e.UserAgent), e.At.Unix())
	if err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	return nil
}

// actionFor is the consent action of a change to status.
func actionFor(from, to string) string {
	switch {
	case to == StatusUnsubscribed:
		return ActionUnsubscribed
	case to == StatusBounced:
		return ActionBounced
	case from == "":
		return ActionSubscribed
	default:
		return ActionResubscribed
	}
}

// Consent returns the subscriber's consent records, oldest first.
func (s *Store) Consent(ctx context.Context, subID int64) ([]ConsentEvent, error) {
	out := []ConsentEvent{}
	err := s.eachConsent(ctx, subID, func(_ string, e ConsentEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// eachConsent streams consent records, of one subscriber or (subID 0)
// of everyone, with the subscriber's address.
func (s *Store) eachConsent(ctx context.Context, subID int64, fn func(email string, e ConsentEvent) error) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT s.email, c.list, c.action, c.source, c.consent_version, c.detail, c.ip, c.user_agent, c.at
		FROM consent_events c JOIN subscribers s ON s.id = c.subscriber_id
		WHERE ? = 0 OR c.subscriber_id = ? ORDER BY c.subscriber_id, c.at, c.id`, subID, subID)
	if err != nil {
		return fmt.Errorf("read consent records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e ConsentEvent
		var email string
		var at int64
		if err := rows.Scan(&email, &e.List, &e.Action, &e.Source, &e.ConsentVersion, &e.Detail, &e.IP, &e.UserAgent, &at); err != nil {
			return fmt.Errorf("read consent records: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		if err := fn(email, e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExportConsent writes every consent record as CSV (one row per change,
// header first) and returns how many it wrote. Cells that a spreadsheet
// would run as a formula are quoted with a leading apostrophe, as the
// subscriber export does.
func (s *Store) ExportConsent(ctx context.Context, w io.Writer) (int, error) {
	cw := csv.NewWriter(w)
	cw.Write([]string{"email", "list", "at", "action", "source", "consent_version", "detail", "ip", "user_agent"})
	n := 0
	err := s.eachConsent(ctx, 0, func(email string, e ConsentEvent) error {
		n++
		rec := []string{email, e.List, e.At.Format(time.RFC3339), e.Action, e.Source, e.ConsentVersion, e.Detail, e.IP, e.UserAgent}
		for i := range rec {
			rec[i] = spreadsheetSafe(rec[i])
		}
		return cw.Write(rec)
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}

// spreadsheetSafe keeps a cell from being read as a formula.
func spreadsheetSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
		return "'" + v
	}
	return v
}

var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeekday reads a weekday as --weekly-day takes it: mon, tue, ...
// (or the full English name), case-insensitive.
func ParseWeekday(s string) (time.Weekday, error) {
	for i, d := range weekdays {
		if strings.EqualFold(s, d) || strings.EqualFold(s, time.Weekday(i).String()) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("weekday %q: use mon, tue, wed, thu, fri, sat or sun", clip(s))
}

// FormatWeekday is the short name of a weekday (mon, tue, ...).
func FormatWeekday(d time.Weekday) string {
	if d < 0 || d > 6 {
		return strconv.Itoa(int(d))
	}
	return weekdays[d]
}
