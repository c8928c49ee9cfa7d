package digest

import "html"

// EachSegment calls fn for every literal of the HTML part (or the text
// part) and the index of the personal field that follows it, -1 after
// the last literal; Recipient.Values gives the fields by that index. A
// sender that encodes the literals once per edition (quoted-printable)
// then encodes only the short fields per recipient.
func (t *Template) EachSegment(htmlPart bool, fn func(literal string, field int)) {
	segs := t.text
	if htmlPart {
		segs = t.html
	}
	for _, s := range segs {
		fn(s.literal, s.field)
	}
}

// Values are the recipient's personal fields in EachSegment's order, as
// the part shows them: escaped for HTML, as they are for text.
func (r Recipient) Values(htmlPart bool) []string {
	f := r.fields()
	out := make([]string, len(f))
	for i, kv := range f {
		out[i] = kv[1]
		if htmlPart {
			out[i] = html.EscapeString(kv[1])
		}
	}
	return out
}
