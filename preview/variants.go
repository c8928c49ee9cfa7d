package preview

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

// ErrNothingForReader is returned for a reader who gets nothing of the
// edition shown (paused, weekly on another day, or no story in their
// sections): there is no message to preview.
var ErrNothingForReader = errors.New("gets nothing")

// ForReader returns ed as the reader gets it: the variant their sections
// and frequency choose, as send delivers it (stored, or composed now
// and not stored). The sample reader, and a person who is not an active
// member of the list (they get nothing; the preview still shows the
// edition, warning so), see the edition itself.
func (s *Source) ForReader(ctx context.Context, ed Edition, rcpt subscribers.Subscriber) (Edition, error) {
	if rcpt.ID == 0 {
		return ed, nil
	}
	ms, err := s.subs().MemberPrefsOf(ctx, rcpt.ID)
	if err != nil {
		return ed, err
	}
	for _, m := range ms {
		if m.List.ID != ed.List.ID {
			continue
		}
		if m.Status != subscribers.StatusActive {
			break
		}
		out, err := s.Variant(ctx, ed, m.Prefs)
		if errors.Is(err, ErrNothingForReader) {
			return out, fmt.Errorf("%s %w", rcpt.Email, err)
		}
		return out, err
	}
	ed.Notes = append(ed.Notes, Warning{Kind: "not-member", Message: fmt.Sprintf("%s is not an active member of %s: send delivers nothing to them; this is the edition itself.", rcpt.Email, ed.List.Name)})
	return ed, nil
}

// Variant returns the variant of ed that readers with these choices get,
// or an error wrapping ErrNothingForReader that says why there is none
// and which date to look at instead.
func (s *Source) Variant(ctx context.Context, ed Edition, p subscribers.Prefs) (Edition, error) {
	k := digest.KeyOf(p)
	weekly := ed.List.IsWeeklyDay(ed.Date)
	if p.PausedUntil != "" && ed.Date < p.PausedUntil {
		return ed, fmt.Errorf("%w of %s's edition for %s: paused until %s (look at --date %s or later)", ErrNothingForReader, ed.List.Name, ed.Date, p.PausedUntil, p.PausedUntil)
	}
	if k.Frequency == subscribers.FrequencyWeekly && !weekly {
		return ed, fmt.Errorf("%w of %s's edition for %s: a weekly reader gets the weekly edition on %ss (look at --date %s)", ErrNothingForReader, ed.List.Name, ed.Date,
			ed.List.WeeklyDay, nextWeekday(ed.Date, ed.List.WeeklyDay))
	}
	if k == digest.BaseKey {
		return ed, nil
	}
	v, err := s.eds().ReaderVariant(ctx, s.Composer, ed.Edition, ed.List, p)
	if err != nil {
		return ed, err
	}
	if v == nil {
		return ed, fmt.Errorf("%w of %s's edition for %s: none of the sections %s has a story in it", ErrNothingForReader, ed.List.Name, ed.Date, k.Sections)
	}
	out := Edition{Edition: v.Edition, List: ed.List, Stored: ed.Stored, Next: ed.Next, Variant: k}
	// The left-out and cut checks describe the whole edition's selection,
	// not this cut of it: the variant carries none.
	if out.Items, err = s.items(ctx, v.Edition); err != nil {
		return ed, err
	}
	return out, nil
}

// nextWeekday is the first date on or after date (YYYY-MM-DD) that falls
// on day.
func nextWeekday(date string, day time.Weekday) string {
	d, err := time.Parse(digest.DateLayout, date)
	if err != nil {
		return date
	}
	for d.Weekday() != day {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format(digest.DateLayout)
}

// VariantRow is one variant of an edition as the web preview lists it.
type VariantRow struct {
	Key digest.VariantKey
	// Readers is how many active members choose it now (paused ones
	// included).
	Readers int
	// Stored is true when the variant was composed and stored by a send
	// (what its readers were sent), false when a send would compose it.
	Stored bool
	// Gets is false when readers of this variant get nothing of this
	// edition's date (weekly ones on another day than the weekly day).
	Gets bool
	// URL shows the variant.
	URL string
}

// VariantsOf lists the variants of ed: the edition itself first, then
// every stored variant and every one the list's readers choose now,
// with their reader counts.
func (s *Source) VariantsOf(ctx context.Context, ed Edition) ([]VariantRow, error) {
	eds := s.eds()
	counts, err := eds.ReaderKeys(ctx, ed.List.ID)
	if err != nil {
		return nil, err
	}
	rows := map[digest.VariantKey]*VariantRow{digest.BaseKey: {Key: digest.BaseKey}}
	if ed.Stored {
		stored, err := eds.StoredVariants(ctx, ed.Edition)
		if err != nil {
			return nil, err
		}
		for _, v := range stored {
			rows[v.Key] = &VariantRow{Key: v.Key, Stored: true}
		}
	}
	rows[digest.BaseKey].Stored = ed.Stored
	for k, n := range counts {
		if rows[k] == nil {
			rows[k] = &VariantRow{Key: k}
		}
		rows[k].Readers = n
	}
	weekly := ed.List.IsWeeklyDay(ed.Date)
	out := make([]VariantRow, 0, len(rows))
	for k, r := range rows {
		r.Gets = k.Frequency != subscribers.FrequencyWeekly || weekly
		r.URL = EditionURL(ed.List.Name, datePath(ed), "") + "?variant=" + VariantParam(k)
		if k == digest.BaseKey {
			r.URL = EditionURL(ed.List.Name, datePath(ed), "")
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if (a == digest.BaseKey) != (b == digest.BaseKey) {
			return a == digest.BaseKey
		}
		if a.Frequency != b.Frequency {
			return a.Frequency < b.Frequency
		}
		return a.Sections < b.Sections
	})
	return out, nil
}

func datePath(ed Edition) string {
	if ed.Next {
		return NextDate
	}
	return ed.Date
}

// VariantParam is a variant key as the preview's ?variant= takes it:
// FREQUENCY or FREQUENCY:SECTIONS (weekly:economy,sport).
func VariantParam(k digest.VariantKey) string {
	if k.Sections == "" {
		return k.Frequency
	}
	return k.Frequency + ":" + k.Sections
}

// ParseVariant reads ?variant= into the choices that pick it.
func ParseVariant(v string) (subscribers.Prefs, error) {
	freq, secs, _ := strings.Cut(v, ":")
	if freq != subscribers.FrequencyDaily && freq != subscribers.FrequencyWeekly {
		return subscribers.Prefs{}, fmt.Errorf("variant %q: use daily or weekly, then optionally :SECTION,SECTION", v)
	}
	return subscribers.Prefs{Frequency: freq, Sections: subscribers.SectionKey(strings.Split(secs, ","))}, nil
}
