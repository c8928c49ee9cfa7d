package subscribers

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/schedule"
	"github.com/newsroom/digest/store"
)

// Frequencies a reader may choose.
const (
	FrequencyDaily  = "daily"
	FrequencyWeekly = "weekly"
)

// Prefs are a reader's choices on one list: what a membership receives.
type Prefs struct {
	// Sections is the stored set: "" for every section, else sorted,
	// lower-case names joined by commas (see SectionKey).
	Sections string `json:"sections"`
	// Frequency is FrequencyDaily or FrequencyWeekly.
	Frequency string `json:"frequency"`
	// PausedUntil is a local date (YYYY-MM-DD): nothing is sent for an
	// edition dated before it. Empty is not paused.
	PausedUntil string `json:"paused_until,omitempty"`
}

// SectionKey is the stored form of a section set: sorted, lower case,
// comma separated, "" for every section.
func SectionKey(sections []string) string {
	var keep []string
	seen := map[string]bool{}
	for _, s := range sections {
		if k := strings.ToLower(strings.TrimSpace(s)); k != "" && !seen[k] {
			seen[k] = true
			keep = append(keep, k)
		}
	}
	sort.Strings(keep)
	return strings.Join(keep, ",")
}

// Receives reports whether a reader with these choices gets anything of
// the edition of date (YYYY-MM-DD): not while paused, and a weekly
// reader only on the list's weekly day.
func (p Prefs) Receives(date string, weeklyDay bool) bool {
	if p.PausedUntil != "" && date < p.PausedUntil {
		return false
	}
	return p.Frequency != FrequencyWeekly || weeklyDay
}

// IsWeeklyDay reports whether the edition of date is the list's weekly
// one, the day weekly readers get the week's stories.
func (l List) IsWeeklyDay(date string) bool {
	d, err := time.Parse(schedule.DateLayout, date)
	return err == nil && d.Weekday() == l.WeeklyDay
}

// MemberPrefs is one membership on the preference page.
type MemberPrefs struct {
	List   List
	Status string
	Prefs
}

// ByPrefToken returns the holder of a preference-page token and their
// memberships. Like ByToken it looks up by prefix and compares in
// constant time.
func (s *Store) ByPrefToken(ctx context.Context, token string) (Subscriber, []MemberPrefs, error) {
	if !ValidTokenFormat(token) {
		return Subscriber{}, nil, ErrUnknownToken
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, email, name, token, pref_token FROM subscribers WHERE substr(pref_token, 1, 8) = ?`,
		token[:tokenPrefixLen])
	if err != nil {
		return Subscriber{}, nil, fmt.Errorf("look up token: %w", err)
	}
	var found Subscriber
	match := 0
	for rows.Next() {
		var c Subscriber
		if err := rows.Scan(&c.ID, &c.Email, &c.Name, &c.Token, &c.PrefToken); err != nil {
			rows.Close()
			return Subscriber{}, nil, fmt.Errorf("look up token: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(c.PrefToken), []byte(token)) == 1 {
			found, match = c, 1
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return Subscriber{}, nil, fmt.Errorf("look up token: %w", err)
	}
	if match == 0 {
		return Subscriber{}, nil, ErrUnknownToken
	}
	ms, err := s.memberPrefs(ctx, s.DB, found.ID)
	return found, ms, err
}

// MemberPrefsOf returns a subscriber's memberships with their choices,
// by list name (the preview shows a reader's own variant from them).
func (s *Store) MemberPrefsOf(ctx context.Context, subID int64) ([]MemberPrefs, error) {
	return s.memberPrefs(ctx, s.DB, subID)
}

func (s *Store) memberPrefs(ctx context.Context, q store.Querier, subID int64) ([]MemberPrefs, error) {
	rows, err := q.QueryContext(ctx, `SELECT m.list_id, m.status, m.sections, m.frequency, m.paused_until
		FROM memberships m JOIN lists l ON l.id = m.list_id WHERE m.subscriber_id = ? ORDER BY l.name`, subID)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	type row struct {
		id int64
		MemberPrefs
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.Status, &r.Sections, &r.Frequency, &r.PausedUntil); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	out := make([]MemberPrefs, 0, len(found))
	for _, r := range found {
		l, err := scanList(q.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE id = ?`, r.id))
		if err != nil {
			return nil, fmt.Errorf("read list: %w", err)
		}
		r.List = l
		out = append(out, r.MemberPrefs)
	}
	return out, nil
}

// Change says how a preference-page POST came: the request's IP and user
// agent, empty unless record_ip.
type Change struct {
	Source    string
	IP        string
	UserAgent string
}

// ErrInvalidPrefs reports a choice SetPrefs cannot store.
var ErrInvalidPrefs = errors.New("invalid preferences")

// SetPrefs stores a reader's choices on one list they are on and records
// the change. sections are checked against the list's sections (unknown
// names are dropped; all of them is stored as "all"); pausedUntil must be
// empty or a date.
func (s *Store) SetPrefs(ctx context.Context, subID int64, listName string, sections []string, frequency, pausedUntil string, c Change) error {
	list, err := s.GetList(ctx, listName)
	if err != nil {
		return err
	}
	if frequency != FrequencyDaily && frequency != FrequencyWeekly {
		return fmt.Errorf("%w: frequency %q: use daily or weekly", ErrInvalidPrefs, clip(frequency))
	}
	if pausedUntil != "" {
		if _, err := time.Parse(schedule.DateLayout, pausedUntil); err != nil {
			return fmt.Errorf("%w: pause until %q: give a date like 2026-12-24", ErrInvalidPrefs, clip(pausedUntil))
		}
	}
	key, err := s.checkSections(ctx, list, sections)
	if err != nil {
		return err
	}
	return store.RetryBusy(ctx, WriteRetry, func() error {
		return s.DB.InTx(ctx, func(tx *sql.Tx) error {
			var old Prefs
			err := tx.QueryRowContext(ctx, `SELECT sections, frequency, paused_until FROM memberships WHERE list_id = ? AND subscriber_id = ?`,
				list.ID, subID).Scan(&old.Sections, &old.Frequency, &old.PausedUntil)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotMember
			}
			if err != nil {
				return err
			}
			next := Prefs{Sections: key, Frequency: frequency, PausedUntil: pausedUntil}
			if old == next {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE memberships SET sections = ?, frequency = ?, paused_until = ?, updated_at = ?
				WHERE list_id = ? AND subscriber_id = ?`, key, frequency, pausedUntil, s.now().Unix(), list.ID, subID); err != nil {
				return err
			}
			return recordEvent(ctx, tx, subID, ConsentEvent{At: s.now(), List: list.Name, Action: ActionPreferences, Source: c.Source,
				Detail: next.describe(), IP: c.IP, UserAgent: c.UserAgent})
		})
	})
}

func (p Prefs) describe() string {
	sec := p.Sections
	if sec == "" {
		sec = "all"
	}
	d := "sections=" + sec + " frequency=" + p.Frequency
	if p.PausedUntil != "" {
		d += " paused_until=" + p.PausedUntil
	}
	return d
}

// SetStatusByID sets the subscriber's membership of list (every list when
// empty) to status, recording each change: unsubscribing ends active
// memberships, resubscribing revives unsubscribed ones (a bounced address
// stays bounced). It returns the lists changed.
func (s *Store) SetStatusByID(ctx context.Context, subID int64, list, status string, c Change) ([]string, error) {
	from := StatusActive
	if status == StatusActive {
		from = StatusUnsubscribed
	}
	var changed []string
	err := store.RetryBusy(ctx, WriteRetry, func() error {
		changed = changed[:0]
		return s.DB.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			changed, err = s.updateStatus(ctx, tx, subID, list, from, status, c)
			return err
		})
	})
	return changed, err
}

// updateStatus is the one place a membership's status changes for a
// person's or an operator's request, with its consent record: the
// memberships of list (every list when empty) with status from (any
// other status when empty) get status.
func (s *Store) updateStatus(ctx context.Context, tx *sql.Tx, subID int64, list, from, status string, c Change) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE memberships SET status = ?, updated_at = ?
		WHERE subscriber_id = ? AND status <> ? AND (? = '' OR status = ?)
		AND (? = '' OR list_id = (SELECT id FROM lists WHERE name = ?))
		RETURNING (SELECT name FROM lists WHERE id = list_id)`, status, s.now().Unix(), subID, status, from, from, list, list)
	if err != nil {
		return nil, err
	}
	var changed []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		changed = append(changed, name)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	action := ActionUnsubscribed
	if status == StatusActive {
		action = ActionResubscribed
	}
	for _, name := range changed {
		if err := recordEvent(ctx, tx, subID, ConsentEvent{At: s.now(), List: name, Action: action, Source: c.Source, IP: c.IP, UserAgent: c.UserAgent}); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

// DataExport is everything the store holds about a person, as the
// preference page's "download my data" gives it.
type DataExport struct {
	Details
	Preferences []ListPrefs     `json:"preferences"`
	Pending     []PendingSignup `json:"pending_signups"`
}

// ListPrefs is one list's choices in a DataExport.
type ListPrefs struct {
	List string `json:"list"`
	Prefs
}

// ExportPerson returns everything about the subscriber with this address.
func (s *Store) ExportPerson(ctx context.Context, email string) (DataExport, error) {
	var out DataExport
	d, err := s.Show(ctx, email)
	if err != nil {
		return out, err
	}
	out.Details = d
	ms, err := s.memberPrefs(ctx, s.DB, d.ID)
	if err != nil {
		return out, err
	}
	out.Preferences = []ListPrefs{}
	for _, m := range ms {
		out.Preferences = append(out.Preferences, ListPrefs{List: m.List.Name, Prefs: m.Prefs})
	}
	out.Pending = []PendingSignup{}
	err = s.EachPending(ctx, "", func(p PendingSignup) error {
		if strings.EqualFold(p.Email, d.Email) {
			out.Pending = append(out.Pending, p)
		}
		return nil
	})
	return out, err
}

// ChoiceCount is how many active members of a list made one choice of
// frequency and sections.
type ChoiceCount struct {
	Frequency, Sections string
	Members             int
}

// ActiveChoices counts the list's active members by their choice of
// frequency and sections (paused readers included: they have a choice,
// they just get nothing until their date), for the variants an edition
// needs.
func ActiveChoices(ctx context.Context, q store.Querier, listID int64) ([]ChoiceCount, error) {
	rows, err := q.QueryContext(ctx, `SELECT frequency, sections, COUNT(*) FROM memberships
		WHERE list_id = ? AND status = ? GROUP BY frequency, sections`, listID, StatusActive)
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	defer rows.Close()
	var out []ChoiceCount
	for rows.Next() {
		var c ChoiceCount
		if err := rows.Scan(&c.Frequency, &c.Sections, &c.Members); err != nil {
			return nil, fmt.Errorf("read preferences: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
