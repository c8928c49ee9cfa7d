package digest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// Week is the span of a weekly edition: the 7 days to its window's end.
const Week = 7 * 24 * time.Hour

// VariantKey names what a reader chose: a frequency and a section set
// (subscribers.SectionKey: "" for every section).
type VariantKey struct {
	Frequency string `json:"frequency"`
	Sections  string `json:"sections"`
}

// BaseKey is the edition itself: daily, every section.
var BaseKey = VariantKey{Frequency: subscribers.FrequencyDaily}

// KeyOf is the variant a reader's preferences ask for.
func KeyOf(p subscribers.Prefs) VariantKey {
	f := p.Frequency
	if f == "" {
		f = subscribers.FrequencyDaily
	}
	return VariantKey{Frequency: f, Sections: p.Sections}
}

func (k VariantKey) String() string {
	s := k.Sections
	if s == "" {
		s = "all sections"
	}
	return k.Frequency + ", " + s
}

// Variant is one composed variant of an edition: the edition with the
// variant's subject, bodies and stories (its ID is the edition's, so the
// ledger and Message-IDs stay per edition), cut at its placeholders once.
type Variant struct {
	Key     VariantKey
	Edition Edition
	// Empty is true when none of the variant's sections had a story:
	// its readers are not sent an empty message.
	Empty    bool
	Template *Template
}

// Variants are the variants of one edition its readers need, each
// composed once whatever the number of its readers.
type Variants struct {
	Edition Edition
	// Weekly tells whether the edition's date is the list's weekly day.
	Weekly bool
	byKey  map[VariantKey]*Variant
	// Composed counts the variants composed by this call (the others
	// were stored by an earlier run).
	Composed int
}

// For returns the variant a reader with prefs gets of this edition, or
// nil when they get none: paused until a later date, weekly on another
// day than the list's weekly day, or none of their sections had a story.
func (vs *Variants) For(p subscribers.Prefs) *Variant {
	if !p.Receives(vs.Edition.Date, vs.Weekly) {
		return nil
	}
	v := vs.byKey[KeyOf(p)]
	// An empty edition goes out only when forced, and never on the
	// weekly day (it was built for the weekly readers).
	if v == nil || v.Empty && (v.Key != BaseKey || vs.Weekly) {
		return nil
	}
	return v
}

// All returns the variants in key order, the edition itself first.
func (vs *Variants) All() []*Variant {
	out := make([]*Variant, 0, len(vs.byKey))
	for _, v := range vs.byKey {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if (a == BaseKey) != (b == BaseKey) {
			return a == BaseKey
		}
		if a.Frequency != b.Frequency {
			return a.Frequency < b.Frequency
		}
		return a.Sections < b.Sections
	})
	return out
}

// ReaderKeys returns the distinct variants the list's active members ask
// for, with how many ask for each (paused readers included: they have a
// key, they just get nothing until their date).
func (e *Editions) ReaderKeys(ctx context.Context, listID int64) (map[VariantKey]int, error) {
	choices, err := subscribers.ActiveChoices(ctx, e.DB, listID)
	if err != nil {
		return nil, err
	}
	out := map[VariantKey]int{}
	for _, c := range choices {
		out[VariantKey{Frequency: c.Frequency, Sections: c.Sections}] = c.Members
	}
	return out, nil
}

// PrepareVariants composes and stores the variants of ed its list's
// readers need and that are not stored yet, and returns them all with
// the edition itself: once per distinct (frequency, section set), never
// per reader. Daily variants take the edition's own stories of the
// chosen sections; on the list's weekly day, weekly ones take the week's
// top stories (selected once, by the same ranking over 7 days, and stored
// as the weekly variant of every section). A resume finds them stored and
// sends exactly what the first run sent.
func (e *Editions) PrepareVariants(ctx context.Context, c Composer, ed Edition, list subscribers.List) (*Variants, error) {
	vs := &Variants{Edition: ed, Weekly: list.IsWeeklyDay(ed.Date), byKey: map[VariantKey]*Variant{}}
	vs.byKey[BaseKey] = &Variant{Key: BaseKey, Edition: ed, Template: ed.Template(), Empty: len(ed.StoryIDs) == 0}
	if err := e.loadVariants(ctx, vs); err != nil {
		return nil, err
	}
	keys, err := e.ReaderKeys(ctx, list.ID)
	if err != nil {
		return nil, err
	}
	bases := map[string]*Selection{}
	base := func(freq string) (*Selection, error) {
		if sel := bases[freq]; sel != nil {
			return sel, nil
		}
		sel, err := e.variantBase(ctx, list, ed, vs, freq)
		if err != nil {
			return nil, err
		}
		bases[freq] = &sel
		return &sel, nil
	}
	want := make([]VariantKey, 0, len(keys)+1)
	weekly := false
	for k := range keys {
		want = append(want, k)
		weekly = weekly || k.Frequency == subscribers.FrequencyWeekly
	}
	if vs.Weekly && weekly {
		// The weekly selection is stored first, so every later weekly
		// variant (and a resume) derives from the same stories.
		want = append(want, VariantKey{Frequency: subscribers.FrequencyWeekly})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Sections < want[j].Sections })
	for _, k := range want {
		if vs.byKey[k] != nil || k.Frequency == subscribers.FrequencyWeekly && !vs.Weekly {
			continue
		}
		if k.Frequency != subscribers.FrequencyDaily && k.Frequency != subscribers.FrequencyWeekly {
			continue
		}
		sel, err := base(k.Frequency)
		if err != nil {
			return nil, err
		}
		v, err := e.composeVariant(ctx, c, ed, sel.ForSections(k.Sections), k)
		if err != nil {
			return nil, err
		}
		vs.byKey[k] = v
		vs.Composed++
	}
	return vs, nil
}

// variantBase is the selection the variants of a frequency are cut
// from: the stored every-section variant of it (for daily, the edition
// itself), else the week's top stories.
func (e *Editions) variantBase(ctx context.Context, list subscribers.List, ed Edition, vs *Variants, freq string) (Selection, error) {
	v := vs.byKey[VariantKey{Frequency: freq}]
	if v == nil {
		return e.weekSelection(ctx, list, ed)
	}
	sel, err := e.storedSelection(ctx, list, v.Edition)
	if freq == subscribers.FrequencyWeekly {
		sel.List.Title = weeklyTitle(list)
	}
	return sel, err
}

// ReaderVariant is the variant a reader with prefs gets of ed, as the
// next send would deliver it, for the preview: the stored variant when
// there is one, else composed now and not stored (a preview records
// nothing). It is nil when the reader gets nothing of ed (see
// Variants.For: paused, weekly on another day, or no story in the
// reader's sections). ed may be a stored edition or one composed and not
// stored.
func (e *Editions) ReaderVariant(ctx context.Context, c Composer, ed Edition, list subscribers.List, p subscribers.Prefs) (*Variant, error) {
	vs := &Variants{Edition: ed, Weekly: list.IsWeeklyDay(ed.Date), byKey: map[VariantKey]*Variant{}}
	vs.byKey[BaseKey] = &Variant{Key: BaseKey, Edition: ed, Template: ed.Template(), Empty: len(ed.StoryIDs) == 0}
	if ed.ID != 0 {
		if err := e.loadVariants(ctx, vs); err != nil {
			return nil, err
		}
	}
	k := KeyOf(p)
	if vs.byKey[k] == nil && p.Receives(ed.Date, vs.Weekly) &&
		(k.Frequency == subscribers.FrequencyDaily || k.Frequency == subscribers.FrequencyWeekly) {
		sel, err := e.variantBase(ctx, list, ed, vs, k.Frequency)
		if err != nil {
			return nil, err
		}
		v, err := e.variantEdition(c, ed, sel.ForSections(k.Sections), k)
		if err != nil {
			return nil, err
		}
		vs.byKey[k] = &Variant{Key: k, Edition: v, Template: v.Template(), Empty: len(v.StoryIDs) == 0}
	}
	return vs.For(p), nil
}

// ForSections is the selection cut to a section set (a SectionKey):
// only those sections' blocks, and only their stories under "More
// headlines". "" keeps everything.
func (s Selection) ForSections(key string) Selection {
	if key == "" {
		return s
	}
	want := map[string]bool{}
	for _, n := range strings.Split(key, ",") {
		want[n] = true
	}
	out := s
	out.Blocks, out.More = nil, nil
	names := map[string]bool{} // display names of the kept sections
	for _, b := range s.Blocks {
		if want[strings.ToLower(b.Section.Name)] {
			out.Blocks = append(out.Blocks, b)
			names[b.Section.DisplayName()] = true
		}
	}
	for _, st := range s.More {
		if names[st.Section] || want[strings.ToLower(st.Section)] {
			out.More = append(out.More, st)
		}
	}
	return out
}

// weekSelection selects the week's top stories of the list, to the
// edition's window end.
func (e *Editions) weekSelection(ctx context.Context, list subscribers.List, ed Edition) (Selection, error) {
	day, err := time.ParseInLocation(DateLayout, ed.Date, list.Location())
	if err != nil {
		return Selection{}, err
	}
	wk := *e
	wk.week = true
	now := ed.WindowEnd
	wk.Now = func() time.Time { return now }
	sel, err := wk.selectFor(ctx, list, ed.Date, day)
	if err != nil {
		return sel, err
	}
	sel.List.Title = weeklyTitle(list)
	return sel, nil
}

// storedSelection rebuilds the selection a stored edition (or variant)
// shows from its story IDs: lead stories grouped in their sections, then
// "More headlines".
func (e *Editions) storedSelection(ctx context.Context, list subscribers.List, ed Edition) (Selection, error) {
	sel := Selection{List: list, Date: ed.Date, WindowStart: ed.WindowStart, WindowEnd: ed.WindowEnd}
	if len(ed.StoryIDs) == 0 {
		return sel, nil
	}
	args := make([]any, len(ed.StoryIDs))
	for i, id := range ed.StoryIDs {
		args[i] = id
	}
	rows, err := e.DB.QueryContext(ctx, `SELECT c.id, c.name, c.title, c.display_order, c.max_stories,
		s.id, s.title, s.url, s.teaser, s.published_at, s.score, s.pinned
		FROM stories s JOIN sections c ON c.id = s.section_id WHERE s.id IN (?`+strings.Repeat(", ?", len(args)-1)+`)`, args...)
	if err != nil {
		return sel, fmt.Errorf("read edition stories: %w", err)
	}
	defer rows.Close()
	type found struct {
		sec stories.Section
		st  stories.Story
	}
	byID := map[int64]found{}
	for rows.Next() {
		var f found
		var published int64
		if err := rows.Scan(&f.sec.ID, &f.sec.Name, &f.sec.Title, &f.sec.Order, &f.sec.MaxStories,
			&f.st.ID, &f.st.Title, &f.st.URL, &f.st.Teaser, &published, &f.st.Score, &f.st.Pinned); err != nil {
			return sel, err
		}
		f.st.Section = f.sec.DisplayName()
		f.st.PublishedAt = time.Unix(published, 0).UTC()
		byID[f.st.ID] = f
	}
	if err := rows.Err(); err != nil {
		return sel, err
	}
	for i, id := range ed.StoryIDs {
		f, ok := byID[id]
		if !ok {
			continue // a story deleted since: leave it out
		}
		if i >= ed.Leads {
			sel.More = append(sel.More, f.st)
			continue
		}
		n := len(sel.Blocks)
		if n == 0 || sel.Blocks[n-1].Section.ID != f.sec.ID {
			sel.Blocks = append(sel.Blocks, Block{Section: f.sec})
			n++
		}
		sel.Blocks[n-1].Stories = append(sel.Blocks[n-1].Stories, f.st)
	}
	return sel, nil
}

// weeklyTitle names the weekly edition in its subject and footer.
func weeklyTitle(list subscribers.List) string { return list.DisplayTitle() + " weekly" }

// composeVariant composes one variant and stores it; when another
// process stored the same variant first, that one is used.
func (e *Editions) composeVariant(ctx context.Context, c Composer, ed Edition, sel Selection, k VariantKey) (*Variant, error) {
	v, err := e.variantEdition(c, ed, sel, k)
	if err != nil {
		return nil, err
	}
	ids, _ := json.Marshal(nonNil(v.StoryIDs))
	err = store.RetryBusy(ctx, time.Minute, func() error {
		_, err := e.DB.ExecContext(ctx, `INSERT INTO edition_variants (edition_id, frequency, sections, subject, preheader, html, text, story_ids, leads, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			ed.ID, k.Frequency, k.Sections, v.Subject, v.Preheader, v.HTML, v.Text, string(ids), v.Leads, v.CreatedAt.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store variant %s: %w", k, err)
	}
	stored, err := e.variant(ctx, ed, k)
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// variantEdition composes a variant of ed from sel: its own subject,
// bodies and stories under the edition's identity (ID, list, date).
func (e *Editions) variantEdition(c Composer, ed Edition, sel Selection, k VariantKey) (Edition, error) {
	v, err := c.Compose(sel)
	if err != nil {
		return v, fmt.Errorf("compose variant %s: %w", k, err)
	}
	v.ID, v.ListID, v.List, v.Date, v.CreatedAt = ed.ID, ed.ListID, ed.List, ed.Date, e.now().UTC().Truncate(time.Second)
	return v, nil
}

func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

const variantColumns = `frequency, sections, subject, preheader, html, text, story_ids, leads, created_at`

func scanVariant(sc interface{ Scan(...any) error }, ed Edition) (*Variant, error) {
	v := &Variant{Edition: ed}
	var ids string
	var created int64
	if err := sc.Scan(&v.Key.Frequency, &v.Key.Sections, &v.Edition.Subject, &v.Edition.Preheader, &v.Edition.HTML, &v.Edition.Text,
		&ids, &v.Edition.Leads, &created); err != nil {
		return nil, err
	}
	v.Edition.StoryIDs = nil
	if err := json.Unmarshal([]byte(ids), &v.Edition.StoryIDs); err != nil {
		return nil, fmt.Errorf("read variant stories: %w", err)
	}
	v.Edition.CreatedAt = time.Unix(created, 0).UTC()
	v.Empty = len(v.Edition.StoryIDs) == 0
	v.Template = v.Edition.Template()
	return v, nil
}

func (e *Editions) variant(ctx context.Context, ed Edition, k VariantKey) (*Variant, error) {
	v, err := scanVariant(e.DB.QueryRowContext(ctx, `SELECT `+variantColumns+` FROM edition_variants
		WHERE edition_id = ? AND frequency = ? AND sections = ?`, ed.ID, k.Frequency, k.Sections), ed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: variant %s of edition %d", ErrNoEdition, k, ed.ID)
	}
	return v, err
}

func (e *Editions) loadVariants(ctx context.Context, vs *Variants) error {
	rows, err := e.DB.QueryContext(ctx, `SELECT `+variantColumns+` FROM edition_variants WHERE edition_id = ?`, vs.Edition.ID)
	if err != nil {
		return fmt.Errorf("read variants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanVariant(rows, vs.Edition)
		if err != nil {
			return err
		}
		vs.byKey[v.Key] = v
	}
	return rows.Err()
}

// StoredVariants returns the stored variants of an edition (not the
// edition itself), in key order, for the preview.
func (e *Editions) StoredVariants(ctx context.Context, ed Edition) ([]*Variant, error) {
	vs := &Variants{Edition: ed, byKey: map[VariantKey]*Variant{}}
	if err := e.loadVariants(ctx, vs); err != nil {
		return nil, err
	}
	return vs.All(), nil
}

// weeklyDue reports whether the list's edition of date must be built
// for its weekly readers even though the day brought nothing new: it is
// the weekly day, someone reads weekly, and the week has stories.
func (e *Editions) weeklyDue(ctx context.Context, list subscribers.List, date string) bool {
	if !list.IsWeeklyDay(date) {
		return false
	}
	keys, err := e.ReaderKeys(ctx, list.ID)
	if err != nil {
		return false
	}
	weekly := false
	for k := range keys {
		weekly = weekly || k.Frequency == subscribers.FrequencyWeekly
	}
	if !weekly {
		return false
	}
	end := e.now()
	sel, err := e.weekSelection(ctx, list, Edition{Date: date, WindowEnd: end})
	return err == nil && !sel.Empty()
}
