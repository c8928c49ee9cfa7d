package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/newsroom/digest/internal/oneline"

	"github.com/newsroom/digest/schedule"
)

// Defaults a new list gets when its settings leave them out; they match
// the column defaults of the first migration.
const (
	DefaultSchedule  = "0 6 * * *"
	DefaultTimeZone  = "UTC"
	DefaultLanguage  = "en"
	DefaultDirection = "ltr"
)

// DefaultMaxAge is how long a story stays eligible for a list's editions
// when none took it: counted from the later of its publication and the
// time it was stored (migration 0010 has the same default).
const DefaultMaxAge = 48 * time.Hour

// MaxMaxAge bounds --max-age: a story a year old is no news.
const MaxMaxAge = 366 * 24 * time.Hour

// Placeholders the first migration gives the built-in daily list. A real
// relay must never carry them: send and serve refuse a list that still
// has them (see List.SenderProblem).
const (
	PlaceholderFromAddress   = "digest@example.com"
	PlaceholderPostalAddress = "The Daily Digest, 1 Newsroom Street, Springfield"
)

// Limits on list settings: they end up in subjects, headers and footers.
const (
	maxListName   = 64
	maxTitle      = 200
	maxPrefix     = 100
	maxPostal     = 500
	maxSectionLen = 100
)

// ErrListExists reports a list name that is taken.
var ErrListExists = errors.New("list already exists")

// ErrListNotEmpty reports a delete of a list that still has members.
var ErrListNotEmpty = errors.New("list has subscribers")

// listName keeps names usable in URLs (?list=NAME), List-Id labels and
// file names without escaping.
var listName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// rtlScripts are the scripts written right to left, used to infer a
// list's direction from its language.
var rtlScripts = map[string]bool{"Arab": true, "Hebr": true, "Syrc": true, "Thaa": true, "Nkoo": true, "Adlm": true, "Mand": true, "Samr": true, "Rohg": true}

// DirectionOf is the text direction of a BCP 47 language tag: rtl for
// languages written in a right-to-left script (Arabic, Hebrew, Persian,
// Urdu, ...), ltr otherwise.
func DirectionOf(lang string) string {
	tag, err := language.Parse(lang)
	if err != nil {
		return DefaultDirection
	}
	if script, conf := tag.Script(); conf != language.No && rtlScripts[script.String()] {
		return "rtl"
	}
	return DefaultDirection
}

// NormalizeList checks every setting of l and puts it in its stored form:
// the sender parsed by net/mail with the address normalised, one-line
// texts, sections trimmed and de-duplicated, the schedule and the time
// zone checked by package schedule as the daemon reads them, the language as a canonical BCP 47 tag. Empty
// settings get the defaults. The first problem found is returned.
func NormalizeList(l *List) error {
	l.Name = strings.TrimSpace(l.Name)
	if len(l.Name) > maxListName || !listName.MatchString(l.Name) {
		return fmt.Errorf("list name %q: use at most %d lower-case letters, digits, - and _, starting with a letter or digit (like morning-briefing)", clip(l.Name), maxListName)
	}
	from, err := NormalizeFrom(l.From)
	if err != nil {
		return err
	}
	l.From = from
	if l.Title, err = oneLineSetting("title", l.Title, maxTitle); err != nil {
		return err
	}
	if l.SubjectPrefix, err = oneLineSetting("subject prefix", l.SubjectPrefix, maxPrefix); err != nil {
		return err
	}
	if l.PostalAddress = joinLines(l.PostalAddress); len(l.PostalAddress) > maxPostal {
		return fmt.Errorf("postal address is %d characters long; the limit is %d", len(l.PostalAddress), maxPostal)
	}
	if l.Sections, err = normalizeSections(l.Sections); err != nil {
		return err
	}
	if l.Schedule, err = NormalizeSchedule(l.Schedule); err != nil {
		return err
	}
	if l.TimeZone, err = NormalizeTimeZone(l.TimeZone); err != nil {
		return err
	}
	if l.Language = strings.TrimSpace(l.Language); l.Language == "" {
		l.Language = DefaultLanguage
	}
	tag, err := language.Parse(l.Language)
	if err != nil {
		return fmt.Errorf("language %q is not a BCP 47 tag: use one like en, de, ar or pt-BR", clip(l.Language))
	}
	l.Language = tag.String()
	if err := normalizeFeedback(l); err != nil {
		return err
	}
	switch d := time.Duration(l.MaxAge); {
	case d == 0:
		l.MaxAge = Duration(DefaultMaxAge)
	case d < 0:
		return fmt.Errorf("max age must be positive: give a duration from 1h to %dh, like 48h", int(MaxMaxAge.Hours()))
	case d < time.Hour || d > MaxMaxAge:
		return fmt.Errorf("max age %s: give a duration from 1h to %dh, like 48h", d, int(MaxMaxAge.Hours()))
	default:
		l.MaxAge = Duration(d.Truncate(time.Second))
	}
	switch l.Direction = strings.ToLower(strings.TrimSpace(l.Direction)); l.Direction {
	case "":
		l.Direction = DirectionOf(l.Language)
	case "ltr", "rtl":
	default:
		return fmt.Errorf("direction %q: use ltr or rtl", clip(l.Direction))
	}
	return normalizeSignup(l)
}

// NormalizeFrom checks a list's sender, "Name <address>" or a bare
// address, and returns it with the address normalised. Line breaks and
// other control characters are refused rather than folded: the value
// becomes the From header of every message.
func NormalizeFrom(raw string) (string, error) {
	raw = strings.TrimSpace(oneline.StripInvisible(raw))
	if raw == "" {
		return "", errors.New(`sender missing: give --from "Name <address@example.com>"`)
	}
	if hasControl(raw) {
		return "", errors.New("sender contains a line break or control character: give it on one line, like \"Name <address@example.com>\"")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return "", fmt.Errorf("sender %q is not an address like \"Name <address@example.com>\" (%v)", clip(raw), err)
	}
	addr, err := NormalizeAddress(a.Address)
	if err != nil {
		return "", fmt.Errorf("sender: %w", err)
	}
	if a.Name == "" {
		return addr, nil
	}
	s := quotePhrase(a.Name) + " <" + addr + ">"
	if b, err := mail.ParseAddress(s); err != nil || b.Name != a.Name || b.Address != addr {
		return "", fmt.Errorf("sender name %q cannot be written in a header: simplify it", clip(a.Name))
	}
	return s, nil
}

// quotePhrase writes a display name as it was typed when it is a plain
// phrase, and as a quoted string otherwise. Unicode stays readable (RFC
// 6532); go-mail encodes it when the header is written.
func quotePhrase(name string) string {
	plain := true
	for _, r := range name {
		if r < 0x80 && !(r == ' ' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

// NormalizeSchedule checks a list's schedule with schedule.Normalize, the
// same parser the daemon runs it with: a five-field cron expression
// (minute, hour, day of month, month, day of week) or a descriptor such
// as @daily. Intervals (@every) are refused, and so is a TZ= prefix: the
// time zone is the list's own setting. Empty is DefaultSchedule.
func NormalizeSchedule(spec string) (string, error) {
	if strings.TrimSpace(spec) == "" {
		return DefaultSchedule, nil
	}
	return schedule.Normalize(spec)
}

// NormalizeTimeZone checks an IANA time zone name with schedule.LoadZone,
// as the daemon reads it. "Local" is refused: it would mean whatever
// machine runs the daemon.
func NormalizeTimeZone(tz string) (string, error) {
	tz = strings.TrimSpace(tz)
	if tz == "" {
		return DefaultTimeZone, nil
	}
	if _, err := schedule.LoadZone(tz); err != nil {
		return "", err
	}
	return tz, nil
}

// NextRun is when the list's next edition goes out after t, as the daemon
// sends it (schedule.Schedule.NextEdition: the first fire of a local date,
// the spring-forward gap included), in the list's time zone; ok is false
// when the schedule or zone does not parse, or it never fires.
func (l List) NextRun(t time.Time) (time.Time, bool) {
	sched, err := schedule.Parse(l.Schedule, l.TimeZone)
	if err != nil {
		return time.Time{}, false
	}
	next := sched.NextEdition(t)
	return next.In(sched.Location()), !next.IsZero()
}

func oneLineSetting(what, v string, max int) (string, error) {
	v = strings.TrimSpace(oneline.StripInvisible(v))
	if hasControl(v) {
		return "", fmt.Errorf("%s contains a line break or control character: give it on one line", what)
	}
	if len(v) > max {
		return "", fmt.Errorf("%s is %d characters long; the limit is %d", what, len(v), max)
	}
	return v, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '\u0085' || r == '\u2028' || r == '\u2029'
	})
}

// joinLines turns a pasted multi-line postal address into one line,
// its lines joined with ", ".
func joinLines(s string) string {
	var parts []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' }) {
		if line = CleanName(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, ", ")
}

func normalizeSections(in []string) ([]string, error) {
	out := []string{} // never nil: JSON shows [] for "all sections"
	seen := map[string]bool{}
	for _, s := range in {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" || seen[strings.ToLower(part)] {
				continue
			}
			if hasControl(part) || len(part) > maxSectionLen {
				return nil, fmt.Errorf("section %q: give section names on one line, at most %d characters", clip(part), maxSectionLen)
			}
			seen[strings.ToLower(part)] = true
			out = append(out, part)
		}
	}
	return out, nil
}

// ParseSections splits a comma-separated section filter, as the
// --sections flag takes it.
func ParseSections(s string) []string {
	out, _ := normalizeSections([]string{s})
	return out
}

// CreateList validates l and stores it as a new list.
func (s *Store) CreateList(ctx context.Context, l List) (List, error) {
	if err := NormalizeList(&l); err != nil {
		return l, err
	}
	now := s.now().Unix()
	err := s.DB.QueryRowContext(ctx, `
		INSERT INTO lists (name, title, from_addr, postal_address, subject_prefix, sections, schedule, timezone, language, direction, signup, weekly_day,
			bounce_address, click_tracking, rank_by_clicks, max_age, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
		l.Name, l.Title, l.From, l.PostalAddress, l.SubjectPrefix, strings.Join(l.Sections, ","), l.Schedule, l.TimeZone, l.Language, l.Direction, l.Signup, int(l.WeeklyDay),
		l.BounceAddress, l.ClickTracking, l.RankByClicks, int64(time.Duration(l.MaxAge)/time.Second), now, now).Scan(&l.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("%w: %s (change it with digest lists update %s)", ErrListExists, l.Name, l.Name)
	}
	if err != nil {
		return l, fmt.Errorf("create list: %w", err)
	}
	return l, nil
}

// UpdateList validates l and replaces the settings of the list with its
// ID. The name cannot change: it is in every unsubscribe link sent.
func (s *Store) UpdateList(ctx context.Context, l List) (List, error) {
	if err := NormalizeList(&l); err != nil {
		return l, err
	}
	res, err := s.DB.ExecContext(ctx, `
		UPDATE lists SET title = ?, from_addr = ?, postal_address = ?, subject_prefix = ?, sections = ?, schedule = ?,
			timezone = ?, language = ?, direction = ?, signup = ?, weekly_day = ?, bounce_address = ?, click_tracking = ?, rank_by_clicks = ?, max_age = ?, updated_at = ? WHERE id = ? AND name = ?`,
		l.Title, l.From, l.PostalAddress, l.SubjectPrefix, strings.Join(l.Sections, ","), l.Schedule, l.TimeZone, l.Language, l.Direction,
		l.Signup, int(l.WeeklyDay), l.BounceAddress, l.ClickTracking, l.RankByClicks, int64(time.Duration(l.MaxAge)/time.Second), s.now().Unix(), l.ID, l.Name)
	if err != nil {
		return l, fmt.Errorf("update list: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return l, fmt.Errorf("%w %q", ErrUnknownList, l.Name)
	}
	return l, nil
}

// Deleted counts what deleting a list removed with it. Editions is the
// caller's to fill (digest's Editions.CountForList, read just before):
// editions are digest's table.
type Deleted struct {
	Memberships int64 `json:"memberships"`
	Editions    int64 `json:"editions"`
}

// DeleteList deletes the list, its editions and their delivery records.
// While the list has members (of any status) it refuses with
// ErrListNotEmpty unless force is set; the subscribers themselves stay,
// since they may be on other lists.
func (s *Store) DeleteList(ctx context.Context, name string, force bool) (Deleted, error) {
	var d Deleted
	l, err := s.GetList(ctx, name)
	if err != nil {
		return d, err
	}
	err = s.DB.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE list_id = ?`, l.ID).Scan(&d.Memberships); err != nil {
			return err
		}
		if d.Memberships > 0 && !force {
			return fmt.Errorf("%w: %s has %d (remove them, or delete with --force)", ErrListNotEmpty, name, d.Memberships)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE id = ?`, l.ID)
		return err
	})
	if err != nil && !errors.Is(err, ErrListNotEmpty) {
		err = fmt.Errorf("delete list: %w", err)
	}
	return d, err
}

// Counts are a list's memberships by status.
type Counts struct {
	Active       int64 `json:"active"`
	Unsubscribed int64 `json:"unsubscribed"`
	Bounced      int64 `json:"bounced"`
}

// Total is every membership, whatever its status.
func (c Counts) Total() int64 { return c.Active + c.Unsubscribed + c.Bounced }

func (c *Counts) add(status string, n int64) {
	switch status {
	case StatusActive:
		c.Active += n
	case StatusUnsubscribed:
		c.Unsubscribed += n
	case StatusBounced:
		c.Bounced += n
	}
}

// ListCounts is a list with its membership counts.
type ListCounts struct {
	List
	Subscribers Counts `json:"subscribers"`
}

// AllLists returns every list, by name.
func (s *Store) AllLists(ctx context.Context) ([]List, error) {
	return s.readLists(ctx, "name")
}

// ScheduledLists returns every list, in id order, for the daemon that
// sends each on its schedule. It reads them all at once: a newsroom has a
// handful of lists, and the daemon rereads them periodically to pick up
// changed schedules.
func (s *Store) ScheduledLists(ctx context.Context) ([]List, error) {
	return s.readLists(ctx, "id")
}

// readLists is the one reader of every list; order is a column name
// given by this package, never by the caller's data.
func (s *Store) readLists(ctx context.Context, order string) ([]List, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+listColumns+` FROM lists ORDER BY `+order)
	if err != nil {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	defer rows.Close()
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, fmt.Errorf("read lists: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	return out, nil
}

// Lists calls fn for every list in name order, with its counts: the
// lists through AllLists, the counts of all of them in one grouped read.
func (s *Store) Lists(ctx context.Context, fn func(ListCounts) error) error {
	lists, err := s.AllLists(ctx)
	if err != nil {
		return err
	}
	counts := map[int64]*Counts{}
	rows, err := s.DB.QueryContext(ctx, `SELECT list_id, status, COUNT(*) FROM memberships GROUP BY list_id, status`)
	if err != nil {
		return fmt.Errorf("count subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var status string
		if err := rows.Scan(&id, &status, &n); err != nil {
			return fmt.Errorf("count subscribers: %w", err)
		}
		if counts[id] == nil {
			counts[id] = &Counts{}
		}
		counts[id].add(status, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count subscribers: %w", err)
	}
	for _, l := range lists {
		lc := ListCounts{List: l}
		if c := counts[l.ID]; c != nil {
			lc.Subscribers = *c
		}
		if err := fn(lc); err != nil {
			return err
		}
	}
	return nil
}

// CountMembers counts the list's memberships by status.
func (s *Store) CountMembers(ctx context.Context, listID int64) (Counts, error) {
	var c Counts
	rows, err := s.DB.QueryContext(ctx, `SELECT status, COUNT(*) FROM memberships WHERE list_id = ? GROUP BY status`, listID)
	if err != nil {
		return c, fmt.Errorf("count subscribers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return c, err
		}
		c.add(status, n)
	}
	return c, rows.Err()
}

// SenderProblems says why the list cannot go to a real relay yet: a
// sender that is still the placeholder the first migration set, or no
// real postal address (anti-spam law wants one in every bulk message).
// Each problem is one line naming the command that fixes it; none means
// the list is ready.
func (l List) SenderProblems() []string {
	var out []string
	if a, err := mail.ParseAddress(l.From); err != nil || strings.EqualFold(a.Address, PlaceholderFromAddress) {
		out = append(out, fmt.Sprintf("list %s: the sender %q is the placeholder: set yours with digest lists update %s --from \"Your Newsroom <news@your-domain>\"", l.Name, l.From, l.Name))
	}
	if p := strings.TrimSpace(l.PostalAddress); p == "" || strings.EqualFold(p, PlaceholderPostalAddress) {
		out = append(out, fmt.Sprintf("list %s has no real postal address (the law asks for one in bulk mail): set it with digest lists update %s --address \"Street, City\"", l.Name, l.Name))
	}
	return out
}
