// Package preview shows editors exactly what subscribers will get before
// it goes out: a stored edition, or the next one as it would be built
// now, rendered into the very message delivery sends (headers, text and
// HTML parts), with checks an editor wants before sending. It records
// nothing. The same package serves the local web preview (server.go).
package preview

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
)

// GmailClipBytes is where Gmail clips a message ("[Message clipped] View
// entire message"): 102 KB of HTML. What is clipped away includes the
// footer with the unsubscribe link.
const GmailClipBytes = 102 * 1024

// NextDate names the next edition as it would be built now, in place of
// a date.
const NextDate = "next"

// SampleToken is the unsubscribe token of the sample recipient: a
// preview or test message never carries a real subscriber's token
// unless it is that subscriber's own.
const SampleToken = "preview-sample"

// SampleRecipient is the neutral reader a preview is shown for when no
// subscriber is named: no name (the plain greeting), an address on a
// reserved domain, and SampleToken.
func SampleRecipient() subscribers.Subscriber {
	return subscribers.Subscriber{Email: "reader@example.com", Token: SampleToken}
}

// Source loads and renders previews. Every call reads the store afresh,
// so a preview reflects curation at once.
type Source struct {
	DB       *store.DB
	Composer digest.Composer
	// BaseURL is where unsubscribe links point, as in real messages.
	BaseURL string
	Now     func() time.Time
}

func (s *Source) now() time.Time { return clock.Now(s.Now) }

func (s *Source) subs() *subscribers.Store { return &subscribers.Store{DB: s.DB, Now: s.Now} }
func (s *Source) eds() *digest.Editions    { return &digest.Editions{DB: s.DB, Now: s.Now} }

// Edition is an edition to preview: a stored one, or one composed now
// and not stored.
type Edition struct {
	digest.Edition
	List subscribers.List
	// Stored is true for an edition in the store (sent, or to be sent,
	// as it is); false for one composed for this preview only.
	Stored bool
	// Next is true when the date was "next".
	Next bool
	// Selection is what a composed edition was made from; nil when
	// stored.
	Selection *digest.Selection
	// Items are the edition's stories in the order they appear.
	Items []Item
	// Variant is the reader variant shown (see Source.ForReader);
	// digest.BaseKey for the edition itself.
	Variant digest.VariantKey
	// Notes are warnings about whom the edition is shown for, added to
	// the checks of its views.
	Notes []Warning
}

// IsVariant reports whether a reader variant is shown, not the edition
// itself.
func (e Edition) IsVariant() bool {
	return e.Variant != digest.BaseKey && e.Variant != digest.VariantKey{}
}

// Item is one story of an edition and where it appears.
type Item struct {
	stories.Story
	// Lead is true in a section block (headline, teaser, READ MORE),
	// false under "More headlines".
	Lead bool
}

// Lists returns every list, by name.
func (s *Source) Lists(ctx context.Context) ([]subscribers.List, error) {
	return s.subs().AllLists(ctx)
}

// List returns the list called name; an unknown name says what to do.
func (s *Source) List(ctx context.Context, name string) (subscribers.List, error) {
	return s.subs().GetList(ctx, name)
}

// Past returns the list's stored editions, newest first.
func (s *Source) Past(ctx context.Context, list subscribers.List, limit int) ([]digest.Summary, error) {
	return s.eds().Recent(ctx, list, limit)
}

// Load returns the list's edition for date: the stored one when there is
// one, otherwise what would be built now. An empty date is today (in the
// list's time zone), as for send; NextDate is the next edition not yet
// stored.
func (s *Source) Load(ctx context.Context, listName, date string) (Edition, error) {
	list, err := s.List(ctx, listName)
	if err != nil {
		return Edition{}, err
	}
	eds := s.eds()
	var sel digest.Selection
	if date == NextDate {
		if sel, err = eds.Next(ctx, list); err != nil {
			return Edition{}, err
		}
	} else {
		d, _, err := eds.ParseDate(list, date)
		if err != nil {
			return Edition{}, err
		}
		ed, err := eds.Get(ctx, list, d)
		if err == nil {
			return s.stored(ctx, list, ed)
		}
		if !errors.Is(err, digest.ErrNoEdition) {
			return Edition{}, err
		}
		if sel, err = eds.Select(ctx, list, d); err != nil {
			return Edition{}, err
		}
	}
	ed, err := s.Composer.Compose(sel)
	if err != nil {
		return Edition{}, err
	}
	out := Edition{Edition: ed, List: list, Next: date == NextDate, Selection: &sel, Variant: digest.BaseKey}
	for _, b := range sel.Blocks {
		for _, st := range b.Stories {
			out.Items = append(out.Items, Item{Story: st, Lead: true})
		}
	}
	for _, st := range sel.More {
		out.Items = append(out.Items, Item{Story: st})
	}
	return out, nil
}

func (s *Source) stored(ctx context.Context, list subscribers.List, ed digest.Edition) (Edition, error) {
	out := Edition{Edition: ed, List: list, Stored: true, Variant: digest.BaseKey}
	var err error
	out.Items, err = s.items(ctx, ed)
	return out, err
}

// items are the stories of a composed edition or variant, in order.
func (s *Source) items(ctx context.Context, ed digest.Edition) ([]Item, error) {
	st := &stories.Store{DB: s.DB, Now: s.Now}
	var out []Item
	for i, id := range ed.StoryIDs {
		story, err := st.Get(ctx, id)
		if err != nil {
			return out, fmt.Errorf("edition %d: %w", ed.ID, err)
		}
		out = append(out, Item{Story: story, Lead: i < ed.Leads})
	}
	return out, nil
}

// Recipient returns the subscriber with the address, or the sample
// recipient for "".
func (s *Source) Recipient(ctx context.Context, email string) (subscribers.Subscriber, error) {
	if strings.TrimSpace(email) == "" {
		return SampleRecipient(), nil
	}
	return s.subs().Get(ctx, email)
}

// Header is one header of the message as sent, decoded for reading.
type Header struct {
	Name, Value string
}

// Warning is something an editor should look at before sending.
type Warning struct {
	// Kind is a short stable key: no-teaser, duplicate-url, cut,
	// left-out, expired, expiring, clipped, nothing-new, placeholder.
	Kind    string
	Message string
}

// View is an edition rendered for one recipient exactly as delivery
// would send it.
type View struct {
	Edition   Edition
	Recipient subscribers.Subscriber
	// Sample is true when no subscriber was named.
	Sample  bool
	Headers []Header
	// HTML and Text are the decoded parts of the message.
	HTML, Text string
	// Message is the whole message as it goes over SMTP.
	Message []byte
	// HTMLPartBytes is the HTML part's size as transmitted (after its
	// transfer encoding), the figure Gmail's clipping limit applies to.
	HTMLPartBytes int
	Warnings      []Warning
}

// Render builds the message for the recipient with delivery.BuildMessage,
// the function real sends use, and reads it back.
func (s *Source) Render(ed Edition, rcpt subscribers.Subscriber, subjectPrefix string) (View, error) {
	v := View{Edition: ed, Recipient: rcpt, Sample: rcpt.Token == SampleToken}
	m, err := delivery.BuildMessage(ed.Edition, delivery.Envelope{
		List: ed.List, Sub: rcpt, BaseURL: s.BaseURL, SubjectPrefix: subjectPrefix, Now: s.now(),
	})
	if err != nil {
		return v, err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return v, fmt.Errorf("write message: %w", err)
	}
	v.Message = buf.Bytes()
	if err := v.parse(); err != nil {
		return v, fmt.Errorf("read back message: %w", err)
	}
	v.Warnings = append(Check(ed, v.HTMLPartBytes, v.HTML+v.Text), ed.Notes...)
	return v, nil
}

// shownHeaders are the headers an editor checks, in this order.
var shownHeaders = []string{"Subject", "From", "To", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Date", "Message-Id"}

func (v *View) parse() error {
	msg, err := mail.ReadMessage(bytes.NewReader(v.Message))
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	for _, name := range shownHeaders {
		raw := msg.Header.Get(name)
		if raw == "" {
			continue
		}
		val, err := dec.DecodeHeader(raw)
		if err != nil {
			val = raw
		}
		v.Headers = append(v.Headers, Header{Name: name, Value: val})
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		body, err := decodePart(raw, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return err
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			v.Text = string(body)
		case "text/html":
			v.HTML = string(body)
			v.HTMLPartBytes = len(raw)
		}
	}
}

func decodePart(raw []byte, cte string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Map(dropSpace, raw))))
	default:
		return raw, nil
	}
}

func dropSpace(r rune) rune {
	if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
		return -1
	}
	return r
}

// Header returns the value of the named header as sent, or "".
func (v View) Header(name string) string {
	for _, h := range v.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Check lists what an editor should look at in the edition: lead stories
// without a teaser, stories that link to the same article, sections that
// had more stories than their maximum (composed editions only: a stored
// one keeps no record of what was left out), an HTML part Gmail would
// clip, an edition send would not build, and a personal field left
// unfilled in body.
func Check(ed Edition, htmlPartBytes int, body string) []Warning {
	var ws []Warning
	add := func(kind, format string, args ...any) {
		ws = append(ws, Warning{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	if ed.Selection != nil && ed.Selection.Empty() {
		add("nothing-new", "No section has a new story: send would not build this edition (it would need --force).")
	}
	for _, it := range ed.Items {
		if it.Lead && strings.TrimSpace(it.Teaser) == "" {
			add("no-teaser", "Story %d %q (%s) has no teaser: only its headline and READ MORE show. Add one with digest stories edit %d --teaser \"...\".",
				it.ID, it.Title, it.Section, it.ID)
		}
	}
	seen := map[string]Item{}
	for _, it := range ed.Items {
		key := CanonicalURL(it.URL)
		if first, ok := seen[key]; ok {
			add("duplicate-url", "Stories %d %q and %d %q link to the same article (%s): hide one with digest stories hide ID.",
				first.ID, first.Title, it.ID, it.Title, it.URL)
			continue
		}
		seen[key] = it
	}
	if ed.Selection != nil {
		for _, line := range ed.Selection.LeftOutReport() {
			add(line.Kind, "%s", strings.ToUpper(line.Text[:1])+line.Text[1:]+".")
		}
		for _, b := range ed.Selection.Blocks {
			if b.Cut > 0 {
				add("cut", "Section %s showed %d of %d new stories: %d cut at its limit of %d (raise it with digest sections set %q --max N, or pin the ones that matter).",
					b.Section.DisplayName(), len(b.Stories), len(b.Stories)+b.Cut, b.Cut, b.Section.MaxStories, b.Section.Name)
			}
		}
	}
	if htmlPartBytes > GmailClipBytes {
		add("clipped", "The HTML part is %s, past Gmail's 102 KB clipping limit: Gmail will hide the rest, footer and unsubscribe link included. Lower sections' --max.",
			FormatBytes(htmlPartBytes))
	}
	if strings.Contains(body, "[[digest:") {
		add("placeholder", "A personal field was left unfilled ([[digest:...]]) in the message.")
	}
	return ws
}

// trackingParams are query parameters that do not change which article
// a link opens.
var trackingParams = []string{"utm_", "fbclid", "gclid", "mc_cid", "mc_eid"}

// CanonicalURL reduces a story link to the article it opens, so that two
// links to the same article compare equal: scheme and host lower-cased,
// http and https alike, "www." dropped, no fragment, no tracking
// parameters, no trailing slash, sorted query.
func CanonicalURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw
	}
	host := strings.TrimPrefix(strings.ToLower(u.Host), "www.")
	host = strings.TrimSuffix(strings.TrimSuffix(host, ":443"), ":80")
	q := u.Query()
	for k := range q {
		for _, p := range trackingParams {
			if strings.HasPrefix(strings.ToLower(k), p) {
				q.Del(k)
			}
		}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(host)
	b.WriteString(strings.TrimRight(u.EscapedPath(), "/"))
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(strings.Join(q[k], ",")))
	}
	return b.String()
}

// FormatBytes writes a size as editors read it: "48.2 KB".
func FormatBytes(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1024)
}

// Body returns the HTML or, with text, the plain-text part.
func (v View) Body(text bool) string {
	if text {
		return v.Text
	}
	return v.HTML
}
