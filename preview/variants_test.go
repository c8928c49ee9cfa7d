package preview_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/preview"
	"github.com/newsroom/digest/subscribers"
)

// readers puts four readers on daily: economy only, weekly, paused until
// 1 December, and one with every section.
func (e *env) readers() {
	e.t.Helper()
	ch := subscribers.Change{Source: subscribers.SourceCLI}
	for _, r := range []struct {
		email, freq, paused string
		sections            []string
	}{
		{"econ@example.com", "daily", "", []string{"Economy"}},
		{"weekly@example.com", "weekly", "", nil},
		{"paused@example.com", "daily", "2026-12-01", nil},
		{"all@example.com", "daily", "", nil},
	} {
		sub, err := e.subs.Add(e.ctx, r.email, "", subscribers.DefaultList)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.subs.SetPrefs(e.ctx, sub.ID, subscribers.DefaultList, r.sections, r.freq, r.paused, ch); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) forReader(ed preview.Edition, email string) (preview.Edition, error) {
	e.t.Helper()
	rcpt, err := e.src.Recipient(e.ctx, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.src.ForReader(e.ctx, ed, rcpt)
}

func TestPreviewAsAReaderShowsTheirVariant(t *testing.T) {
	e := newEnv(t)
	e.sample()
	e.readers()
	ed := e.load(subscribers.DefaultList, "") // Saturday 28 November, composed now

	econ, err := e.forReader(ed, "econ@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := (digest.VariantKey{Frequency: "daily", Sections: "economy"}); econ.Variant != want {
		t.Errorf("variant %+v, want %+v", econ.Variant, want)
	}
	if len(econ.Items) != 1 || econ.Items[0].Section != "Economy" {
		t.Errorf("the economy reader's variant has %+v, want the one Economy story", econ.Items)
	}
	v := e.render(econ, "econ@example.com")
	if !strings.Contains(v.HTML, "Markets") || strings.Contains(v.HTML, "Putin not ready") || strings.Contains(v.Text, "Biden cabinet") {
		t.Error("the economy reader's preview shows other sections' stories")
	}
	all, err := e.forReader(ed, "all@example.com")
	if err != nil || all.IsVariant() || len(all.Items) != 3 {
		t.Errorf("a reader of every section: variant %v, %d items, %v; want the edition itself", all.Variant, len(all.Items), err)
	}
	if n := e.count("edition_variants") + e.count("editions"); n != 0 {
		t.Errorf("previewing variants stored %d rows", n)
	}

	// Readers who get nothing of this date are told why and where to look.
	for email, want := range map[string]string{
		"weekly@example.com": "weekly edition on Mondays (look at --date 2026-11-30)",
		"paused@example.com": "paused until 2026-12-01 (look at --date 2026-12-01 or later)",
	} {
		_, err := e.forReader(ed, email)
		if !errors.Is(err, preview.ErrNothingForReader) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), email+" gets nothing") {
			t.Errorf("%s: %v; want ErrNothingForReader saying %q", email, err, want)
		}
	}

	// On the weekly day the weekly reader sees the week's edition.
	if _, err := e.db.ExecContext(e.ctx, `UPDATE lists SET weekly_day = 6`); err != nil { // Saturday
		t.Fatal(err)
	}
	ed = e.load(subscribers.DefaultList, "")
	wk, err := e.forReader(ed, "weekly@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if wk.Variant.Frequency != "weekly" || !strings.Contains(wk.Subject, "weekly") || len(wk.Items) != 3 {
		t.Errorf("weekly variant: %+v, subject %q, %d items", wk.Variant, wk.Subject, len(wk.Items))
	}
}

func TestPreviewServerListsVariantsWithReaderCounts(t *testing.T) {
	e := newEnv(t)
	e.sample()
	e.readers()
	srv := httptest.NewServer((&preview.Server{Source: e.src}).Handler())
	defer srv.Close()
	page, status := get(t, srv.URL+"/lists/daily/next")
	if status != 200 {
		t.Fatalf("edition page: %d\n%s", status, page)
	}
	table := between(page, `<table class="data variants">`, "</table>")
	for _, want := range []string{
		// the edition itself: the reader of every section and the paused one
		`<tr><td>daily</td><td><a href="/lists/daily/next">all sections</a></td><td class="readers">2</td>`,
		`<tr><td>daily</td><td><a href="/lists/daily/next?variant=daily:economy">economy</a></td><td class="readers">1</td>`,
		`<tr><td>weekly</td><td><a href="/lists/daily/next?variant=weekly">all sections</a></td><td class="readers">1</td>`,
		"nothing on this date (weekly day: Monday)",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("variants table lacks %q:\n%s", want, table)
		}
	}
	page, status = get(t, srv.URL+"/lists/daily/next?variant=daily:economy")
	if status != 200 || !strings.Contains(page, "Reader variant: <strong>daily, economy</strong>") ||
		!strings.Contains(page, `src="/lists/daily/next/html?variant=daily%3Aeconomy"`) {
		t.Errorf("variant page (%d) does not show the variant:\n%.2000s", status, page)
	}
	html, _ := get(t, srv.URL+"/lists/daily/next/html?variant=daily:economy")
	if !strings.Contains(html, "Markets") || strings.Contains(html, "Putin not ready") {
		t.Error("the variant's HTML part shows other sections")
	}
	if page, status := get(t, srv.URL+"/lists/daily/next?as=weekly@example.com"); status != 404 || !strings.Contains(page, "weekly edition on Mondays") {
		t.Errorf("a weekly reader on a Saturday: %d\n%.1500s", status, page)
	}
	if _, status := get(t, srv.URL+"/lists/daily/next?variant=monthly"); status != 404 {
		t.Errorf("an unknown variant: %d, want 404", status)
	}
}
