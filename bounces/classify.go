// Package bounces learns what happened to mail after the relay accepted
// it: delivery status notifications (RFC 3464) and the common
// non-standard bounces, spam complaints (RFC 5965 ARF), unsubscribe
// requests sent by mail, and the same events from providers' webhooks
// (Amazon SES, Postmark, Mailgun, SendGrid). One classifier reads every
// message; one Processor applies every event to the store: a hard bounce
// marks the membership bounced, three soft bounces in the last five
// editions do too, a complaint unsubscribes and suppresses the address.
package bounces

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// Kind is what a message or event means for the reader it names.
type Kind string

// Kinds. None is a report that asks for nothing (a delivery that
// succeeded, a "not spam" report); NotReport is a message that is no
// report at all.
const (
	NotReport   Kind = "not-report"
	None        Kind = "none"
	Hard        Kind = "hard"
	Soft        Kind = "soft"
	Complaint   Kind = "complaint"
	Unsubscribe Kind = "unsubscribe"
)

// Recipient is one recipient a delivery report speaks of.
type Recipient struct {
	Email      string `json:"email"`
	Action     string `json:"action,omitempty"`
	Status     string `json:"status,omitempty"`
	Diagnostic string `json:"diagnostic,omitempty"`
	Kind       Kind   `json:"kind"`
}

// Report is what Classify read from a message.
type Report struct {
	Kind Kind `json:"kind"`
	// Format is how it was read: dsn (RFC 3464), arf (RFC 5965),
	// heuristic (a non-standard bounce) or unsubscribe.
	Format     string      `json:"format,omitempty"`
	Recipients []Recipient `json:"recipients,omitempty"`
	// Status is the enhanced status code behind Kind (5.1.1, 4.2.2).
	Status string `json:"status,omitempty"`
	// FeedbackType is ARF's Feedback-Type.
	FeedbackType string `json:"feedback_type,omitempty"`
	// Envelope are the addresses the message was delivered to (To,
	// Delivered-To, X-Original-To, ...), where VERP and unsubscribe
	// addresses are found.
	Envelope []string `json:"envelope,omitempty"`
	// OriginalMessageID is the Message-ID of the message the report is
	// about, when it quotes it.
	OriginalMessageID string `json:"original_message_id,omitempty"`
	// MessageID is the report's own Message-ID; Subject its subject.
	MessageID string `json:"message_id,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// Token is the unsubscribe token of an unsubscribe request.
	Token string `json:"-"`
}

// maxMessage caps what Classify reads of one message.
const maxMessage = 10 << 20

// ErrNotMessage reports input that is not an email message at all.
var ErrNotMessage = errors.New("not an email message")

// Classify reads one message and says what it reports.
func Classify(r io.Reader) (Report, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(r, maxMessage)))
	if err != nil {
		return Report{Kind: NotReport}, ErrNotMessage
	}
	rep := Report{Kind: NotReport, MessageID: strings.TrimSpace(msg.Header.Get("Message-Id"))}
	dec := new(mime.WordDecoder)
	rep.Subject, _ = dec.DecodeHeader(msg.Header.Get("Subject"))
	for _, h := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Delivered-To", "To", "Cc"} {
		for _, v := range msg.Header[textproto.CanonicalMIMEHeaderKey(h)] {
			if list, err := mail.ParseAddressList(v); err == nil {
				for _, a := range list {
					rep.Envelope = append(rep.Envelope, a.Address)
				}
			} else if v = strings.Trim(strings.TrimSpace(v), "<>"); strings.Contains(v, "@") {
				rep.Envelope = append(rep.Envelope, v)
			}
		}
	}
	for _, a := range rep.Envelope {
		if tok, ok := ParseUnsubscribeAddress(a); ok {
			rep.Kind, rep.Format, rep.Token = Unsubscribe, "unsubscribe", tok
			return rep, nil
		}
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return rep, err
	}
	ctype, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	p := part{header: textproto.MIMEHeader(msg.Header), ctype: ctype, params: params, body: decode(msg.Header.Get("Content-Transfer-Encoding"), body)}
	parts := flatten(p, 0)
	for _, x := range parts {
		switch x.ctype {
		case "message/delivery-status", "message/global-delivery-status":
			readDSN(&rep, x.body)
		case "message/feedback-report":
			readARF(&rep, x.body)
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			if id := quotedMessageID(x.body); id != "" && rep.OriginalMessageID == "" {
				rep.OriginalMessageID = id
			}
		}
	}
	if rep.Format != "" {
		rep.finish()
		return rep, nil
	}
	if isAutoReply(msg.Header, rep.Subject) || !looksLikeBounce(msg.Header, rep.Subject) {
		return rep, nil
	}
	var text strings.Builder
	for _, x := range parts {
		if x.ctype == "text/plain" || x.ctype == "" {
			text.Write(x.body)
			text.WriteByte('\n')
		}
	}
	if text.Len() == 0 {
		for _, x := range parts {
			if x.ctype == "text/html" {
				text.WriteString(tags.ReplaceAllString(string(x.body), " "))
			}
		}
	}
	readHeuristic(&rep, text.String(), msg.Header.Get("From"))
	return rep, nil
}

// part is one leaf of a MIME tree, decoded.
type part struct {
	header textproto.MIMEHeader
	ctype  string
	params map[string]string
	body   []byte
}

// flatten walks multiparts (not into quoted messages, whose own
// multiparts belong to the original mail).
func flatten(p part, depth int) []part {
	if !strings.HasPrefix(p.ctype, "multipart/") || depth > 8 {
		return []part{p}
	}
	var out []part
	mr := multipart.NewReader(bytes.NewReader(p.body), p.params["boundary"])
	for {
		np, err := mr.NextRawPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(io.LimitReader(np, maxMessage))
		ct, params, _ := mime.ParseMediaType(np.Header.Get("Content-Type"))
		out = append(out, flatten(part{header: np.Header, ctype: ct, params: params, body: decode(np.Header.Get("Content-Transfer-Encoding"), b)}, depth+1)...)
	}
	return out
}

func decode(cte string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b))); err == nil {
			return d
		}
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b)
		if d, err := base64.StdEncoding.DecodeString(string(clean)); err == nil {
			return d
		}
	}
	return b
}

// fieldBlocks reads the header-like blocks of a delivery-status or
// feedback-report part.
func fieldBlocks(b []byte) []textproto.MIMEHeader {
	var out []textproto.MIMEHeader
	// Blank lines separate blocks; some writers leave spaces on them.
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	for _, blk := range regexp.MustCompile(`\n[ \t]*\n`).Split(string(b), -1) {
		blk = strings.TrimSpace(blk)
		if blk == "" {
			continue
		}
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(blk + "\n\n"))).ReadMIMEHeader()
		if len(h) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			out = append(out, h)
		} else if len(h) > 0 {
			out = append(out, h)
		}
	}
	return out
}

// readDSN reads RFC 3464's per-recipient fields.
func readDSN(rep *Report, b []byte) {
	rep.Format = "dsn"
	for _, h := range fieldBlocks(b) {
		rcpt := typedAddress(h.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = typedAddress(h.Get("Original-Recipient"))
		}
		action := strings.ToLower(strings.TrimSpace(h.Get("Action")))
		if rcpt == "" && action == "" {
			continue // the per-message block
		}
		r := Recipient{Email: rcpt, Action: action, Status: statusCode(h.Get("Status")), Diagnostic: oneLine(h.Get("Diagnostic-Code"))}
		if r.Status == "" {
			r.Status = findStatus(r.Diagnostic)
		}
		switch action {
		case "failed":
			r.Kind = byStatus(r.Status, Hard)
		case "delayed":
			r.Kind = Soft
		default: // delivered, relayed, expanded
			r.Kind = None
		}
		rep.Recipients = append(rep.Recipients, r)
	}
}

// readARF reads RFC 5965's feedback report.
func readARF(rep *Report, b []byte) {
	rep.Format = "arf"
	for _, h := range fieldBlocks(b) {
		if ft := strings.ToLower(strings.TrimSpace(h.Get("Feedback-Type"))); ft != "" {
			rep.FeedbackType = ft
		}
		if rc := typedAddress(h.Get("Original-Rcpt-To")); rc != "" {
			rep.Recipients = append(rep.Recipients, Recipient{Email: rc})
		}
	}
	kind := None
	switch rep.FeedbackType {
	case "abuse", "fraud":
		kind = Complaint
	}
	if len(rep.Recipients) == 0 {
		rep.Recipients = []Recipient{{}}
	}
	for i := range rep.Recipients {
		rep.Recipients[i].Kind = kind
	}
}

// finish sets the report's Kind to the worst of its recipients'.
func (rep *Report) finish() {
	rep.Kind = None
	rank := map[Kind]int{None: 0, Soft: 1, Hard: 2, Complaint: 3}
	for _, r := range rep.Recipients {
		if rank[r.Kind] > rank[rep.Kind] {
			rep.Kind, rep.Status = r.Kind, r.Status
		}
	}
}

// byStatus is the kind an enhanced status code gives: 4.x.x soft, 5.x.x
// hard; without one, def.
func byStatus(status string, def Kind) Kind {
	switch {
	case strings.HasPrefix(status, "4."):
		return Soft
	case strings.HasPrefix(status, "5."):
		return Hard
	}
	return def
}

var (
	enhanced  = regexp.MustCompile(`\b([245]\.\d{1,3}\.\d{1,3})\b`)
	replyCode = regexp.MustCompile(`(?m)(?:^|[\s:(])([45][0-5]\d)(?:[ -]|$)`)
	address   = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)
	quotedID  = regexp.MustCompile(`(?im)^Message-ID:[ \t]*(<[^>\r\n]+>)`)
	tags      = regexp.MustCompile(`<[^>]*>`)
)

func statusCode(s string) string { return findStatus(s) }

func findStatus(s string) string {
	if m := enhanced.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// typedAddress reads "rfc822; user@example.com".
func typedAddress(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i+1:]
	}
	return strings.Trim(strings.TrimSpace(v), "<>")
}

func quotedMessageID(b []byte) string {
	if m := quotedID.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isAutoReply recognises vacation and out-of-office answers, which are
// not bounces however they are worded.
func isAutoReply(h mail.Header, subject string) bool {
	if v := strings.ToLower(h.Get("Auto-Submitted")); strings.HasPrefix(v, "auto-replied") {
		return true
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		return true
	}
	s := strings.ToLower(subject)
	return strings.Contains(s, "out of office") || strings.HasPrefix(s, "automatic reply") || strings.Contains(s, "auto-reply") || strings.Contains(s, "vacation")
}

var bounceSubjects = []string{
	"undeliver", "delivery status notification", "failure notice", "returned mail", "delivery failure",
	"mail delivery failed", "could not be delivered", "nondeliverable", "non-delivery", "delivery has failed",
	"mail system error", "delivery problem", "message not delivered",
}

// looksLikeBounce: from a mailer daemon, or with a bounce's subject.
func looksLikeBounce(h mail.Header, subject string) bool {
	from := strings.ToLower(h.Get("From"))
	for _, who := range []string{"mailer-daemon", "postmaster@", "mail delivery subsystem", "mail delivery system"} {
		if strings.Contains(from, who) {
			return true
		}
	}
	s := strings.ToLower(subject)
	for _, w := range bounceSubjects {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

var (
	hardPhrases = []string{"user unknown", "unknown user", "no such user", "does not exist", "doesn't exist", "mailbox unavailable",
		"invalid recipient", "recipient rejected", "address rejected", "account has been disabled", "account is disabled",
		"not our customer", "doesn't have a", "no mailbox", "mailbox not found", "unrouteable address", "no such recipient"}
	softPhrases = []string{"mailbox full", "mailbox is full", "over quota", "quota exceeded", "temporar", "try again later",
		"too long in the queue", "been in the queue too long", "delayed", "insufficient storage"}
)

// readHeuristic reads a bounce that is no RFC 3464 report: the status
// code in the text decides, then the wording; the recipient is the
// first address in the text that is not the bounce's sender.
func readHeuristic(rep *Report, text, from string) {
	rep.Format = "heuristic"
	if id := quotedMessageID([]byte(text)); id != "" {
		rep.OriginalMessageID = id
	}
	// The quoted original (qmail, Yahoo: "--- Below this line is a copy
	// of the message.") is not the bounce's own text.
	own := text
	for _, marker := range []string{"--- Below this line is a copy of the message", "------ This is a copy of the message", "--- Original message follows", "----- Original message -----", "Original message headers:"} {
		if i := strings.Index(own, marker); i >= 0 {
			own = own[:i]
		}
	}
	lower := strings.ToLower(own)
	r := Recipient{Status: findStatus(own)}
	sender := ""
	if a, err := mail.ParseAddress(from); err == nil {
		sender = strings.ToLower(a.Address)
	}
	for _, a := range address.FindAllString(own, -1) {
		if la := strings.ToLower(a); la != sender && !strings.HasPrefix(la, "mailer-daemon@") && !strings.HasPrefix(la, "postmaster@") {
			r.Email = strings.TrimRight(a, ".")
			break
		}
	}
	r.Kind = byStatus(r.Status, "")
	if r.Kind == "" {
		if m := replyCode.FindStringSubmatch(own); m != nil {
			r.Kind = map[byte]Kind{'4': Soft, '5': Hard}[m[1][0]]
		}
	}
	if r.Kind == "" {
		r.Kind = Soft // a bounce that says too little counts, but does not end a membership on its own
		for _, p := range hardPhrases {
			if strings.Contains(lower, p) {
				r.Kind = Hard
				break
			}
		}
		for _, p := range softPhrases {
			if strings.Contains(lower, p) {
				r.Kind = Soft
				break
			}
		}
	}
	r.Action = "failed"
	rep.Recipients = []Recipient{r}
	rep.finish()
}
