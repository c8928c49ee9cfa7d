// Package templates holds digest's hermes theme: the embedded HTML and
// plain-text templates of the daily edition and the brand settings that
// dress them.
//
// The theme reads the edition from a hermes.Email laid out as follows, so
// that all escaping stays with html/template inside hermes:
//
//   - Body.Dictionary: edition metadata by key (see the Meta* constants);
//   - Body.Table.Data: one row per line of the edition, each row a list of
//     entries keyed by the Col* constants; the Kind* values say what the
//     row is (a section heading, a story in a section, a "more" headline).
//
// Personal fields are not rendered by hermes: the templates carry the
// Placeholder* markers, which the digest package fills per recipient.
package templates

import (
	_ "embed"
)

// Metadata keys in Body.Dictionary.
const (
	MetaListTitle = "list_title"
	// MetaSubject is the message's subject, which the HTML repeats as
	// its <title> (screen readers announce it first).
	MetaSubject    = "subject"
	MetaDate       = "date"
	MetaPreheader  = "preheader"
	MetaPostal     = "postal_address"
	MetaArchiveURL = "archive_url"
	MetaLang       = "lang"
	MetaEmpty      = "empty_note"
	MetaMoreTitle  = "more_title"
	MetaAccent     = "accent"
)

// Column keys of a Body.Table.Data row.
const (
	ColKind    = "kind"
	ColSection = "section"
	ColTitle   = "title"
	ColURL     = "url"
	ColTeaser  = "teaser"
	ColDate    = "date"
	// ColImage is the URL of a lead story's picture (absent for none);
	// its alt text is the story's title. The theme shows it at the
	// column's width (552 px: 600 less the cells' side padding) and
	// scales it down with the column.
	ColImage = "image"
)

// Row kinds.
const (
	KindSection = "section"
	KindStory   = "story"
	KindMore    = "more"
)

// Placeholders filled per recipient after the single render. They contain
// no character that HTML escaping, CSS inlining or html2text changes.
const (
	PlaceholderGreeting       = "[[digest:greeting]]"
	PlaceholderUnsubscribeURL = "[[digest:unsubscribe_url]]"
	PlaceholderPreferencesURL = "[[digest:preferences_url]]"
)

//go:embed theme/digest.html.tmpl
var htmlTemplate string

//go:embed theme/digest.txt.tmpl
var textTemplate string

// Theme is digest's hermes theme. It implements hermes.Theme.
type Theme struct{}

// Name implements hermes.Theme.
func (Theme) Name() string { return "digest" }

// HTMLTemplate implements hermes.Theme.
func (Theme) HTMLTemplate() string { return htmlTemplate }

// PlainTextTemplate implements hermes.Theme; hermes turns its HTML into
// text with html2text.
func (Theme) PlainTextTemplate() string { return textTemplate }

// Brand is the newsroom's look: its name (linked to Link when set) in
// the masthead above the list's title and in the footer's "You are
// receiving ... from" line, and the accent colour of the brand name,
// section names and READ MORE links (see Accents).
type Brand struct {
	Name   string
	Link   string
	Accent string
}

// DefaultBrand is used when the configuration names none. The accent
// keeps a contrast ratio above 4.5:1 on white and on dark backgrounds'
// inverted white.
var DefaultBrand = Brand{Name: "digest", Link: "", Accent: "#b3261e"}
