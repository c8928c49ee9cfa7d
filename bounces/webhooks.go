package bounces

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/newsroom/digest/ledger"
)

// ReplayWindow is how far a signed webhook's timestamp may be from now
// (Mailgun, SendGrid): an older request is a replay and refused.
const ReplayWindow = 5 * time.Minute

// Webhooks serves the providers' bounce and complaint webhooks. A
// provider whose secret is not set is not served (404). Every request is
// verified first: a bad signature gets 401 and changes nothing; a body
// that does not parse 400; the same event twice counts once.
type Webhooks struct {
	P *Processor
	// SES turns on /webhooks/ses; SESTopics, when not empty, are the
	// only topic ARNs accepted.
	SES       bool
	SESTopics []string
	// Fetch gets an SNS signing certificate or confirms a subscription
	// (a GET of an https://sns.REGION.amazonaws.com/ URL, checked before
	// the call). Default: an HTTP client with a 10 s timeout.
	Fetch func(ctx context.Context, url string) ([]byte, error)

	PostmarkUser, PostmarkPassword string
	MailgunSigningKey              string
	// SendGridKey is the event webhook's ECDSA public key.
	SendGridKey *ecdsa.PublicKey

	// Failed hears every refused or failed request, by provider.
	Failed func(provider string)
	Now    func() time.Time

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// ParseSendGridKey reads SendGrid's verification key: base64 of the DER
// public key, as SendGrid shows it, or PEM.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	der := []byte(nil)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else {
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("sendgrid public key is not base64 or PEM: copy the verification key from SendGrid's event webhook settings")
		}
		der = d
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sendgrid public key: %v", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("sendgrid public key is not an ECDSA key")
	}
	return ek, nil
}

// Register adds the configured webhooks to mux.
func (h *Webhooks) Register(mux *http.ServeMux) {
	if h.SES {
		mux.HandleFunc("POST /webhooks/ses", h.serve(SourceSES, h.ses))
	}
	if h.PostmarkUser != "" || h.PostmarkPassword != "" {
		mux.HandleFunc("POST /webhooks/postmark", h.serve(SourcePostmark, h.postmark))
	}
	if h.MailgunSigningKey != "" {
		mux.HandleFunc("POST /webhooks/mailgun", h.serve(SourceMailgun, h.mailgun))
	}
	if h.SendGridKey != nil {
		mux.HandleFunc("POST /webhooks/sendgrid", h.serve(SourceSendGrid, h.sendgrid))
	}
}

// webhookError is a refusal with its status.
type webhookError struct {
	status int
	msg    string
}

func (e *webhookError) Error() string { return e.msg }

func unauthorized(msg string) error { return &webhookError{http.StatusUnauthorized, msg} }
func malformed(msg string) error    { return &webhookError{http.StatusBadRequest, msg} }

func (h *Webhooks) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Webhooks) serve(provider string, fn func(*http.Request, []byte) ([]Event, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			h.fail(w, provider, &webhookError{http.StatusRequestEntityTooLarge, "body too large"})
			return
		}
		events, err := fn(r, body)
		if err != nil {
			h.fail(w, provider, err)
			return
		}
		applied := 0
		for _, ev := range events {
			ev.Source = provider
			out, err := h.P.Apply(r.Context(), ev)
			if err != nil {
				h.fail(w, provider, err)
				return
			}
			if out.Changed {
				applied++
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"events":%d,"applied":%d}`+"\n", len(events), applied)
	}
}

func (h *Webhooks) fail(w http.ResponseWriter, provider string, err error) {
	if h.Failed != nil {
		h.Failed(provider)
	}
	status := http.StatusInternalServerError
	var we *webhookError
	if errors.As(err, &we) {
		status = we.status
	}
	h.P.logf("webhook %s refused (%d): %v", provider, status, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="digest webhooks"`)
	}
	http.Error(w, http.StatusText(status), status)
}

// --- Amazon SES through SNS ---

var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// allowedSNSURL: only Amazon's SNS endpoints are ever fetched, so a
// forged message cannot make digest fetch (or trust) anything else.
func allowedSNSURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && snsHost.MatchString(u.Hostname()) && u.Port() == "" && u.User == nil
}

type snsMessage struct {
	Type             string
	MessageId        string
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

func (m snsMessage) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == "Notification" {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

func (h *Webhooks) fetch(ctx context.Context, u string) ([]byte, error) {
	if !allowedSNSURL(u) {
		return nil, unauthorized("URL " + u + " is not an https://sns.REGION.amazonaws.com/ address")
	}
	if h.Fetch != nil {
		return h.Fetch(ctx, u)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

func (h *Webhooks) cert(ctx context.Context, u string) (*x509.Certificate, error) {
	h.mu.Lock()
	c := h.certs[u]
	h.mu.Unlock()
	if c != nil {
		return c, nil
	}
	body, err := h.fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(body)
	if b == nil {
		return nil, unauthorized("signing certificate is not PEM")
	}
	if c, err = x509.ParseCertificate(b.Bytes); err != nil {
		return nil, unauthorized("signing certificate: " + err.Error())
	}
	h.mu.Lock()
	if h.certs == nil {
		h.certs = map[string]*x509.Certificate{}
	}
	h.certs[u] = c
	h.mu.Unlock()
	return c, nil
}

func (h *Webhooks) verifySNS(ctx context.Context, m snsMessage) error {
	if !allowedSNSURL(m.SigningCertURL) {
		return unauthorized("signing certificate URL is not Amazon's")
	}
	cert, err := h.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return unauthorized("signing certificate has no RSA key")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return unauthorized("signature is not base64")
	}
	msg := []byte(m.stringToSign())
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum(msg)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256(msg)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		return unauthorized("unknown SignatureVersion " + m.SignatureVersion)
	}
	if err != nil {
		return unauthorized("signature does not verify")
	}
	if len(h.SESTopics) > 0 {
		for _, t := range h.SESTopics {
			if t == m.TopicArn {
				return nil
			}
		}
		return unauthorized("topic " + m.TopicArn + " is not configured")
	}
	return nil
}

type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		FeedbackID        string `json:"feedbackId"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
			Status       string `json:"status"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		FeedbackID           string `json:"feedbackId"`
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		FeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Mail struct {
		MessageID string `json:"messageId"`
		Source    string `json:"source"`
		Headers   []struct {
			Name, Value string
		} `json:"headers"`
	} `json:"mail"`
}

func (h *Webhooks) ses(r *http.Request, body []byte) ([]Event, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Type == "" || m.MessageId == "" {
		return nil, malformed("not an SNS message")
	}
	if err := h.verifySNS(r.Context(), m); err != nil {
		return nil, err
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if _, err := h.fetch(r.Context(), m.SubscribeURL); err != nil {
			return nil, fmt.Errorf("confirm subscription: %w", err)
		}
		h.P.logf("SNS subscription to %s confirmed", m.TopicArn)
		return nil, nil
	case "UnsubscribeConfirmation":
		return nil, nil
	case "Notification":
	default:
		return nil, malformed("unknown SNS message type " + m.Type)
	}
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		return nil, malformed("SES notification is not JSON")
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	msgID := ""
	for _, hd := range n.Mail.Headers {
		if strings.EqualFold(hd.Name, "Message-ID") {
			msgID = hd.Value
		}
	}
	ref := h.verpRef(r.Context(), n.Mail.Source)
	var out []Event
	switch kind {
	case "Bounce":
		if n.Bounce == nil {
			return nil, malformed("bounce notification without bounce")
		}
		k := Soft
		if n.Bounce.BounceType == "Permanent" {
			k = Hard
		}
		for _, rc := range n.Bounce.BouncedRecipients {
			out = append(out, Event{Key: "ses:" + m.MessageId + ":" + strings.ToLower(rc.EmailAddress), Kind: k, Status: rc.Status,
				Email: rc.EmailAddress, MessageID: msgID, Delivery: ref})
		}
	case "Complaint":
		if n.Complaint == nil {
			return nil, malformed("complaint notification without complaint")
		}
		if n.Complaint.FeedbackType == "not-spam" {
			return nil, nil
		}
		for _, rc := range n.Complaint.ComplainedRecipients {
			out = append(out, Event{Key: "ses:" + m.MessageId + ":" + strings.ToLower(rc.EmailAddress), Kind: Complaint,
				Email: rc.EmailAddress, MessageID: msgID, Delivery: ref})
		}
	}
	return out, nil
}

// verpRef reads a VERP envelope sender a provider reports back (SES's
// mail.source), when its HMAC verifies.
func (h *Webhooks) verpRef(ctx context.Context, addr string) *DeliveryRef {
	id, mac, ok := ParseVERP(addr)
	if !ok {
		return nil
	}
	ref, err := toRef(ledger.ByID(ctx, h.P.DB, id))
	if err != nil || ref == nil || !VerifyVERP(h.P.Key, *ref, mac) {
		h.P.logf("VERP address %s ignored: its HMAC does not match a delivery", addr)
		return nil
	}
	return ref
}

// --- Postmark ---

func (h *Webhooks) postmark(r *http.Request, body []byte) ([]Event, error) {
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(h.PostmarkUser))&subtle.ConstantTimeCompare([]byte(pass), []byte(h.PostmarkPassword)) != 1 {
		return nil, unauthorized("wrong basic auth")
	}
	var ev struct {
		RecordType string
		ID         json.Number
		Type       string
		MessageID  string
		Email      string
		Details    string
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.RecordType == "" {
		return nil, malformed("not a Postmark webhook")
	}
	var k Kind
	switch ev.Type {
	case "HardBounce", "BadEmailAddress":
		k = Hard
	case "SoftBounce", "Transient", "DnsError":
		k = Soft
	case "SpamComplaint":
		k = Complaint
	default:
		return nil, nil // deliveries, opens, autoresponders: nothing to do
	}
	if ev.Email == "" || ev.ID == "" {
		return nil, malformed("Postmark bounce without Email or ID")
	}
	return []Event{{Key: "postmark:" + ev.RecordType + ":" + ev.ID.String(), Kind: k, Email: ev.Email, Status: findStatus(ev.Details)}}, nil
}

// --- Mailgun ---

func (h *Webhooks) mailgun(r *http.Request, body []byte) ([]Event, error) {
	var p struct {
		Signature struct {
			Timestamp, Token, Signature string
		} `json:"signature"`
		EventData struct {
			ID             string `json:"id"`
			Event          string `json:"event"`
			Severity       string `json:"severity"`
			Recipient      string `json:"recipient"`
			DeliveryStatus struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"delivery-status"`
			Message struct {
				Headers struct {
					MessageID string `json:"message-id"`
				} `json:"headers"`
			} `json:"message"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Signature.Signature == "" {
		return nil, malformed("not a Mailgun webhook")
	}
	m := hmac.New(sha256.New, []byte(h.MailgunSigningKey))
	m.Write([]byte(p.Signature.Timestamp + p.Signature.Token))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(p.Signature.Signature))) {
		return nil, unauthorized("signature does not verify")
	}
	if err := h.fresh(p.Signature.Timestamp); err != nil {
		return nil, err
	}
	ed := p.EventData
	var k Kind
	switch {
	case ed.Event == "failed" && ed.Severity == "permanent":
		k = Hard
	case ed.Event == "failed":
		k = Soft
	case ed.Event == "complained":
		k = Complaint
	default:
		return nil, nil
	}
	if ed.Recipient == "" {
		return nil, malformed("Mailgun event without recipient")
	}
	key := ed.ID
	if key == "" {
		key = p.Signature.Token
	}
	status := findStatus(ed.DeliveryStatus.Message)
	return []Event{{Key: "mailgun:" + key, Kind: k, Email: ed.Recipient, Status: status, MessageID: ed.Message.Headers.MessageID}}, nil
}

// fresh refuses a timestamp (Unix seconds) outside the replay window.
func (h *Webhooks) fresh(ts string) error {
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return unauthorized("timestamp is not a number")
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > ReplayWindow || d < -ReplayWindow {
		return unauthorized("timestamp outside the replay window")
	}
	return nil
}

// --- SendGrid ---

func (h *Webhooks) sendgrid(r *http.Request, body []byte) ([]Event, error) {
	sigB64 := r.Header.Get("X-Twilio-Email-Event-Webhook-Signature")
	ts := r.Header.Get("X-Twilio-Email-Event-Webhook-Timestamp")
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || sigB64 == "" || ts == "" {
		return nil, unauthorized("missing or bad signature headers")
	}
	sum := sha256.Sum256(append([]byte(ts), body...))
	if !ecdsa.VerifyASN1(h.SendGridKey, sum[:], sig) {
		return nil, unauthorized("signature does not verify")
	}
	if err := h.fresh(ts); err != nil {
		return nil, err
	}
	var evs []struct {
		Email     string `json:"email"`
		Event     string `json:"event"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		EventID   string `json:"sg_event_id"`
		MessageID string `json:"smtp-id"`
	}
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, malformed("not a SendGrid event array")
	}
	var out []Event
	for _, e := range evs {
		var k Kind
		switch {
		case e.Event == "bounce" && e.Type == "blocked":
			k = Soft
		case e.Event == "bounce":
			k = byStatus(e.Status, Hard)
		case e.Event == "spamreport":
			k = Complaint
		default:
			continue
		}
		if e.Email == "" || e.EventID == "" {
			return nil, malformed("SendGrid event without email or sg_event_id")
		}
		out = append(out, Event{Key: "sendgrid:" + e.EventID, Kind: k, Email: e.Email, Status: e.Status, MessageID: e.MessageID})
	}
	return out, nil
}
