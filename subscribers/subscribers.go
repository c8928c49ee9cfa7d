// Package subscribers owns the people who receive the digest and the lists
// (newsletters) they subscribe to: validation, storage, memberships and
// unsubscribe tokens.
package subscribers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/suggest"
	"github.com/newsroom/digest/store"
)

// DefaultList is the list every --list flag defaults to; the first
// migration creates it.
const DefaultList = "daily"

// Membership statuses.
const (
	StatusActive       = "active"
	StatusUnsubscribed = "unsubscribed"
	StatusBounced      = "bounced"
)

// Subscriber is one person on one or more lists.
type Subscriber struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Token is the secret in the subscriber's unsubscribe link.
	Token string `json:"-"`
	// PrefToken is the secret in the subscriber's preference-page link.
	PrefToken string `json:"-"`
}

// List is a newsletter: who sends it, and how its edition is made.
type List struct {
	ID            int64    `json:"id"`
	Name          string   `json:"name"`
	Title         string   `json:"title"`
	From          string   `json:"from"`
	PostalAddress string   `json:"postal_address"`
	SubjectPrefix string   `json:"subject_prefix"`
	Sections      []string `json:"sections"`
	Schedule      string   `json:"schedule"`
	TimeZone      string   `json:"timezone"`
	Language      string   `json:"language"`
	Direction     string   `json:"direction"`
	// Signup is SignupOpen (the public form at /subscribe/NAME works) or
	// SignupClosed (it answers 404).
	Signup string `json:"signup"`
	// WeeklyDay is the weekday weekly readers get the week's edition.
	WeeklyDay time.Weekday `json:"weekly_day"`
	// BounceAddress is where the list's bounces go (VERP envelope
	// sender, mailto unsubscribe); empty uses the global bounce_address.
	BounceAddress string `json:"bounce_address"`
	// ClickTracking is "off" or "aggregate" (counts per edition and
	// story, never per reader).
	ClickTracking string `json:"click_tracking"`
	// RankByClicks lifts stories readers clicked in other editions.
	RankByClicks bool `json:"rank_by_clicks"`
	// MaxAge is how long a story stays eligible for the list's editions
	// when no edition took it (default DefaultMaxAge).
	MaxAge Duration `json:"max_age"`
}

// Duration is a time.Duration that JSON shows as Go writes it ("48h0m0s").
type Duration time.Duration

// MarshalJSON writes the duration as a string like "48h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// MaxAgeOrDefault is the list's maximum story age, DefaultMaxAge when unset.
func (l List) MaxAgeOrDefault() time.Duration {
	if l.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return time.Duration(l.MaxAge)
}

// DisplayTitle is the list's title, or its name when it has none.
func (l List) DisplayTitle() string {
	if l.Title != "" {
		return l.Title
	}
	return l.Name
}

// Location is the list's time zone, UTC when unset or unknown.
func (l List) Location() *time.Location {
	if loc, err := time.LoadLocation(l.TimeZone); err == nil && l.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// Store reads and writes subscribers, lists and memberships.
type Store struct {
	DB  *store.DB
	Now func() time.Time
}

func (s *Store) now() time.Time { return clock.Now(s.Now) }

// ErrUnknownList reports a list name that does not exist.
var ErrUnknownList = errors.New("unknown list")

// ErrUnknownSubscriber reports an address that is not in the store.
var ErrUnknownSubscriber = errors.New("unknown subscriber")

const listColumns = `id, name, title, from_addr, postal_address, subject_prefix, sections, schedule, timezone, language, direction, signup, weekly_day, bounce_address, click_tracking, rank_by_clicks, max_age`

func scanList(sc interface{ Scan(...any) error }) (List, error) {
	var l List
	var sections string
	var maxAge int64
	err := sc.Scan(&l.ID, &l.Name, &l.Title, &l.From, &l.PostalAddress, &l.SubjectPrefix, &sections, &l.Schedule, &l.TimeZone, &l.Language, &l.Direction, &l.Signup, &l.WeeklyDay, &l.BounceAddress, &l.ClickTracking, &l.RankByClicks, &maxAge)
	l.MaxAge = Duration(time.Duration(maxAge) * time.Second)
	for _, s := range strings.Split(sections, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.Sections = append(l.Sections, s)
		}
	}
	return l, err
}

// GetList returns the list called name.
func (s *Store) GetList(ctx context.Context, name string) (List, error) {
	l, err := scanList(s.DB.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("%w %q%s: create it with digest lists create, or pick one from digest lists list", ErrUnknownList, name, s.nearestList(ctx, name))
	}
	return l, err
}

// nearestList is " (did you mean "x"?)" for the list name closest to a
// mistyped one, or "" when none is close.
func (s *Store) nearestList(ctx context.Context, name string) string {
	rows, err := s.DB.QueryContext(ctx, `SELECT name FROM lists ORDER BY name`)
	if err != nil {
		return ""
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	if near := suggest.Nearest(name, names); near != "" && rows.Err() == nil {
		return fmt.Sprintf(" (did you mean %q?)", near)
	}
	return ""
}

// GetListByID returns the list with the given id.
func (s *Store) GetListByID(ctx context.Context, id int64) (List, error) {
	l, err := scanList(s.DB.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("%w with id %d", ErrUnknownList, id)
	}
	return l, err
}

// NewToken returns a fresh random unsubscribe token (256 bits, URL-safe).
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Add creates the subscriber (or updates the name of an existing one) and
// makes them an active member of each named list. An unsubscribed or
// bounced membership is left as it is: re-adding is not consent again;
// see Resubscribe.
func (s *Store) Add(ctx context.Context, email, name string, lists ...string) (Subscriber, error) {
	addr, err := NormalizeAddress(email)
	if err != nil {
		return Subscriber{}, err
	}
	if len(lists) == 0 {
		lists = []string{DefaultList}
	}
	var ids []int64
	for _, ln := range lists {
		l, err := s.GetList(ctx, ln)
		if err != nil {
			return Subscriber{}, err
		}
		ids = append(ids, l.ID)
	}
	if suppressed, err := IsSuppressed(ctx, s.DB, addr); err != nil {
		return Subscriber{}, fmt.Errorf("add subscriber: %w", err)
	} else if suppressed {
		return Subscriber{}, fmt.Errorf("%w: %s is not added (digest suppressions remove %s, only if the person asked to be mailed again)", ErrSuppressed, addr, addr)
	}
	sub := Subscriber{Email: addr, Name: CleanName(name)}
	now := s.now().Unix()
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO subscribers (email, name, token, pref_token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (email) DO UPDATE SET
				name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE subscribers.name END,
				updated_at = excluded.updated_at
			RETURNING id, email, name, token, pref_token`, sub.Email, sub.Name, NewToken(), NewToken(), now, now).
			Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Token, &sub.PrefToken)
		if err != nil {
			return err
		}
		for i, id := range ids {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
				VALUES (?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING`, id, sub.ID, now, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := recordEvent(ctx, tx, sub.ID, ConsentEvent{At: time.Unix(now, 0), List: lists[i], Action: ActionSubscribed, Source: SourceCLI}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return Subscriber{}, fmt.Errorf("add subscriber: %w", err)
	}
	return sub, nil
}

// Get returns the subscriber with the given address.
func (s *Store) Get(ctx context.Context, email string) (Subscriber, error) {
	addr, err := NormalizeAddress(email)
	if err != nil {
		return Subscriber{}, err
	}
	var sub Subscriber
	err = s.DB.QueryRowContext(ctx, `SELECT id, email, name, token, pref_token FROM subscribers WHERE email = ?`, addr).
		Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Token, &sub.PrefToken)
	if errors.Is(err, sql.ErrNoRows) {
		return sub, fmt.Errorf("%w %s: add them with digest subscribers add", ErrUnknownSubscriber, addr)
	}
	return sub, err
}

// EachActive calls fn for every active member of the list, in id order,
// streaming rows so a list of any size uses constant memory. Members with
// id <= after are skipped, which lets a caller page through the list.
func (s *Store) EachActive(ctx context.Context, listID, after int64, fn func(Subscriber) error) error {
	rows, err := s.DB.QueryContext(ctx, `
		SELECT s.id, s.email, s.name, s.token FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE m.list_id = ? AND m.status = 'active' AND s.id > ? ORDER BY s.id`, listID, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sub Subscriber
		if err := rows.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Token); err != nil {
			return err
		}
		if err := fn(sub); err != nil {
			return err
		}
	}
	return rows.Err()
}
