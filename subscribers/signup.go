package subscribers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
)

// Sign-up settings of a list.
const (
	SignupOpen   = "open"
	SignupClosed = "closed"
)

// Limits on confirmation mails, per address across all lists: a bot that
// signs up a real address again and again sends it at most this much.
const (
	ConfirmEvery   = 10 * time.Minute
	ConfirmPerDay  = 3
	DefaultConfirm = 7 * 24 * time.Hour // how long a confirmation link works
)

// MaxNameLen caps the name a sign-up may give, in bytes.
const MaxNameLen = 100

// StatusPending is what listings call a sign-up waiting for its
// confirmation. It is not a membership status: the address is on no list
// until it confirms.
const StatusPending = "pending"

func normalizeSignup(l *List) error {
	switch l.Signup = strings.ToLower(strings.TrimSpace(l.Signup)); l.Signup {
	case "":
		l.Signup = SignupOpen
	case SignupOpen, SignupClosed:
	default:
		return fmt.Errorf("signup %q: use open or closed", clip(l.Signup))
	}
	if l.WeeklyDay < time.Sunday || l.WeeklyDay > time.Saturday {
		return fmt.Errorf("weekly day %d: use mon, tue, wed, thu, fri, sat or sun", l.WeeklyDay)
	}
	return nil
}

// SignupRequest is one person asking to join a list.
type SignupRequest struct {
	Email string
	Name  string
	List  string
	// Sections are the sections asked for (empty: all).
	Sections []string
	// Source is SourceForm, SourceAPI, SourceCLI or SourceImport.
	Source string
	// ConsentVersion is the version of the consent text shown.
	ConsentVersion string
	// IP and UserAgent are recorded only when given (record_ip).
	IP, UserAgent string
	// TTL is how long the link works (default DefaultConfirm).
	TTL time.Duration
}

// Outcomes of RequestSignup. Callers that answer the public must answer
// all of them the same way.
const (
	// SignupSend: a pending sign-up was stored; mail the token.
	SignupSend = iota + 1
	// SignupActive: the address is already an active member; nothing to send.
	SignupActive
	// SignupLimited: a confirmation went to the address too recently.
	SignupLimited
)

// ErrSignupClosed reports a list that takes no public sign-ups.
var ErrSignupClosed = errors.New("sign-up closed")

// RequestSignup stores a pending sign-up and returns the confirmation
// token to mail, unless the address is suppressed (ErrSuppressed: no
// confirmation may go to it), already active on the list or
// got a confirmation within ConfirmEvery, or ConfirmPerDay of them within
// a day. The limit is checked and the row inserted in one statement, so
// concurrent requests cannot both pass it.
func (s *Store) RequestSignup(ctx context.Context, req SignupRequest) (token string, outcome int, err error) {
	addr, err := NormalizeAddress(req.Email)
	if err != nil {
		return "", 0, err
	}
	list, err := s.GetList(ctx, req.List)
	if err != nil {
		return "", 0, err
	}
	if err := refuseSuppressed(ctx, s.DB, addr); err != nil {
		return "", 0, err
	}
	var active bool
	if err := s.DB.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE s.email = ? AND m.list_id = ? AND m.status = 'active')`, addr, list.ID).Scan(&active); err != nil {
		return "", 0, fmt.Errorf("sign-up: %w", err)
	}
	// An active address goes on through the same statements as any other
	// (the insert's own condition stops it, in the same statement as the
	// limits), so the work does not differ by who the address is.
	ttl := req.TTL
	if ttl <= 0 {
		ttl = DefaultConfirm
	}
	name := CleanName(req.Name)
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	sections, err := s.checkSections(ctx, list, req.Sections)
	if err != nil {
		return "", 0, err
	}
	token = NewToken()
	now := s.now()
	err = store.RetryBusy(ctx, WriteRetry, func() error {
		res, err := s.DB.ExecContext(ctx, `INSERT INTO signups (email, name, list_id, sections, source, consent_version, token_hash, ip, user_agent, created_at, expires_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id
				WHERE s.email = ? AND m.list_id = ? AND m.status = 'active')
			  AND NOT EXISTS (SELECT 1 FROM signups WHERE email = ? AND created_at > ?)
			  AND (SELECT COUNT(*) FROM signups WHERE email = ? AND created_at > ?) < ?`,
			addr, name, list.ID, sections, req.Source, req.ConsentVersion, hashToken(token), CleanName(req.IP), clipUA(req.UserAgent), now.Unix(), now.Add(ttl).Unix(),
			addr, list.ID, addr, now.Add(-ConfirmEvery).Unix(), addr, now.Add(-24*time.Hour).Unix(), ConfirmPerDay)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 && active {
			outcome = SignupActive
		} else if n == 0 {
			outcome = SignupLimited
		} else {
			outcome = SignupSend
		}
		// Rows past their link's life and the day's count are done with.
		_, err = s.DB.ExecContext(ctx, `DELETE FROM signups WHERE expires_at < ? AND created_at < ?`, now.Unix(), now.Add(-24*time.Hour).Unix())
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("sign-up: %w", err)
	}
	if outcome != SignupSend {
		token = ""
	}
	return token, outcome, nil
}

func clipUA(ua string) string {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return CleanName(ua)
}

// checkSections keeps the sections that exist (and that the list sends,
// when it names some) in their stored form: sorted, lower case, comma
// separated; "" is every section.
func (s *Store) checkSections(ctx context.Context, list List, asked []string) (string, error) {
	avail, err := s.ListSections(ctx, list)
	if err != nil {
		return "", err
	}
	ok := map[string]bool{}
	for _, a := range avail {
		ok[strings.ToLower(a.Name)] = true
	}
	var keep []string
	seen := map[string]bool{}
	for _, a := range asked {
		k := strings.ToLower(strings.TrimSpace(a))
		if ok[k] && !seen[k] {
			seen[k] = true
			keep = append(keep, k)
		}
	}
	if len(keep) == len(avail) {
		return "", nil // all of them is "all", so new sections come too
	}
	sort.Strings(keep)
	return strings.Join(keep, ","), nil
}

// SectionChoice is a section a reader may pick.
type SectionChoice struct {
	Name  string
	Title string
}

// ListSections returns the sections a list sends: the list's own filter
// when it has one, every section otherwise, in display order. The
// sections are the stories package's table: it asks stories.
func (s *Store) ListSections(ctx context.Context, list List) ([]SectionChoice, error) {
	secs, err := (&stories.Store{DB: s.DB}).Sections(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sections: %w", err)
	}
	allowed := map[string]bool{}
	for _, n := range list.Sections {
		allowed[strings.ToLower(n)] = true
	}
	var out []SectionChoice
	for _, sec := range secs {
		c := SectionChoice{Name: sec.Name, Title: sec.Title}
		if c.Title == "" {
			c.Title = c.Name
		}
		if len(allowed) == 0 || allowed[strings.ToLower(c.Name)] {
			out = append(out, c)
		}
	}
	return out, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ErrTokenExpired reports a confirmation link that was used or is too
// old; the page offers to sign up again.
var ErrTokenExpired = errors.New("confirmation link expired or used")

// PendingSignup is a sign-up waiting for its confirmation.
type PendingSignup struct {
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	List      string    `json:"list"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignupByToken returns the pending sign-up of a confirmation token
// without using it, for the confirmation page. A used or expired one is
// ErrTokenExpired (with the list filled in), an unknown one ErrUnknownToken.
func (s *Store) SignupByToken(ctx context.Context, token string) (PendingSignup, List, error) {
	p, list, _, err := s.signupByToken(ctx, s.DB, token)
	return p, list, err
}

type signupRow struct {
	id                      int64
	sections, version       string
	ip, ua                  string
	createdAt               int64
	name, source, tokenHash string
}

func (s *Store) signupByToken(ctx context.Context, q store.Querier, token string) (PendingSignup, List, signupRow, error) {
	var p PendingSignup
	var r signupRow
	if !ValidTokenFormat(token) {
		return p, List{}, r, ErrUnknownToken
	}
	h := hashToken(token)
	var listID, expires int64
	var used sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT id, email, name, list_id, sections, source, consent_version, token_hash, ip, user_agent, created_at, expires_at, used_at
		FROM signups WHERE token_hash = ?`, h).Scan(&r.id, &p.Email, &r.name, &listID, &r.sections, &r.source, &r.version, &r.tokenHash,
		&r.ip, &r.ua, &r.createdAt, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || err == nil && subtle.ConstantTimeCompare([]byte(r.tokenHash), []byte(h)) != 1 {
		return p, List{}, r, ErrUnknownToken
	}
	if err != nil {
		return p, List{}, r, fmt.Errorf("read sign-up: %w", err)
	}
	list, err := scanList(q.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE id = ?`, listID))
	if err != nil {
		return p, list, r, fmt.Errorf("read list: %w", err)
	}
	p.Name, p.List, p.Source = r.name, list.Name, r.source
	p.CreatedAt, p.ExpiresAt = time.Unix(r.createdAt, 0).UTC(), time.Unix(expires, 0).UTC()
	if used.Valid || !s.now().Before(p.ExpiresAt) {
		return p, list, r, ErrTokenExpired
	}
	return p, list, r, nil
}

// Confirmed is what a confirmation did.
type Confirmed struct {
	Subscriber Subscriber
	List       List
}

// Confirm uses a confirmation token: the sign-up becomes an active
// membership (a new one, or an unsubscribed or bounced one made active
// again) with the sections asked for, the token stops working, and two
// consent records are written: the sign-up (its time, IP and user agent)
// and the confirmation (ip and ua: this request's, empty unless
// record_ip).
func (s *Store) Confirm(ctx context.Context, token, ip, ua string) (Confirmed, error) {
	var c Confirmed
	err := store.RetryBusy(ctx, WriteRetry, func() error {
		return s.DB.InTx(ctx, func(tx *sql.Tx) error {
			p, list, r, err := s.signupByToken(ctx, tx, token)
			c.List = list
			if err != nil {
				return err
			}
			now := s.now()
			if _, err := tx.ExecContext(ctx, `UPDATE signups SET used_at = ? WHERE id = ?`, now.Unix(), r.id); err != nil {
				return err
			}
			sub := Subscriber{Email: p.Email, Name: r.name}
			if err := tx.QueryRowContext(ctx, `
				INSERT INTO subscribers (email, name, token, pref_token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (email) DO UPDATE SET
					name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE subscribers.name END,
					updated_at = excluded.updated_at
				RETURNING id, email, name, token, pref_token`, sub.Email, sub.Name, NewToken(), NewToken(), now.Unix(), now.Unix()).
				Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Token, &sub.PrefToken); err != nil {
				return err
			}
			c.Subscriber = sub
			var prev string
			err = tx.QueryRowContext(ctx, `SELECT status FROM memberships WHERE list_id = ? AND subscriber_id = ?`, list.ID, sub.ID).Scan(&prev)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (list_id, subscriber_id, status, sections, created_at, updated_at)
				VALUES (?, ?, 'active', ?, ?, ?)
				ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', sections = excluded.sections, updated_at = excluded.updated_at`,
				list.ID, sub.ID, r.sections, now.Unix(), now.Unix()); err != nil {
				return err
			}
			detail := ""
			if r.sections != "" {
				detail = "sections=" + r.sections
			}
			if err := recordEvent(ctx, tx, sub.ID, ConsentEvent{At: time.Unix(r.createdAt, 0), List: list.Name, Action: ActionSignup,
				Source: r.source, ConsentVersion: r.version, Detail: detail, IP: r.ip, UserAgent: r.ua}); err != nil {
				return err
			}
			if prev == StatusActive {
				detail = "already active"
			} else if prev != "" {
				detail = "was " + prev
			}
			return recordEvent(ctx, tx, sub.ID, ConsentEvent{At: now, List: list.Name, Action: ActionConfirmed,
				Source: r.source, ConsentVersion: r.version, Detail: detail, IP: ip, UserAgent: ua})
		})
	})
	return c, err
}

// EachPending calls fn for every sign-up waiting for its confirmation
// (not used, not expired), of one list or (list "") of all, oldest first.
func (s *Store) EachPending(ctx context.Context, list string, fn func(PendingSignup) error) error {
	var listID int64
	if list != "" {
		l, err := s.GetList(ctx, list)
		if err != nil {
			return err
		}
		listID = l.ID
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT g.email, g.name, l.name, g.source, g.created_at, g.expires_at
		FROM signups g JOIN lists l ON l.id = g.list_id
		WHERE g.used_at IS NULL AND g.expires_at > ? AND (? = 0 OR g.list_id = ?) ORDER BY g.created_at, g.id`, s.now().Unix(), listID, listID)
	if err != nil {
		return fmt.Errorf("read sign-ups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p PendingSignup
		var created, expires int64
		if err := rows.Scan(&p.Email, &p.Name, &p.List, &p.Source, &created, &expires); err != nil {
			return err
		}
		p.CreatedAt, p.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
		if err := fn(p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// WebSecret returns the database's key called name (32 random bytes),
// making it on first use. Every serve process on the database signs and
// checks with the same key, and a restart keeps forms rendered before it
// valid.
func (s *Store) WebSecret(ctx context.Context, name string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO web_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, key); err != nil {
		return nil, fmt.Errorf("web secret: %w", err)
	}
	var v []byte
	if err := s.DB.QueryRowContext(ctx, `SELECT value FROM web_secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("web secret: %w", err)
	}
	return v, nil
}
