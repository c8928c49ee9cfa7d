package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsroom/digest/subscribers"
)

// ConfirmationSender mails a sign-up's confirmation link. digest serve
// wires it to the delivery engine (DKIM, the list's sender); web itself
// links no SMTP code. The message carries nothing the person typed: the
// list, the address and the link are all it gets.
type ConfirmationSender interface {
	SendConfirmation(ctx context.Context, list subscribers.List, to, confirmURL string) error
}

// Defaults of the sign-up settings.
const (
	// DefaultMinFormAge is how long a person takes at least to fill in
	// the form; a faster submit is a bot's.
	DefaultMinFormAge = 2 * time.Second
	// DefaultMaxFormAge is how long a rendered form stays good.
	DefaultMaxFormAge = 24 * time.Hour
	// DefaultSignupRate and DefaultSignupBurst limit each client on
	// POST /subscribe: a newsroom's readers sign up once, so a few a
	// minute is plenty even behind a shared address.
	DefaultSignupRate  = rate.Limit(0.2)
	DefaultSignupBurst = 10
	// maxPendingMails bounds the confirmations queued for sending; more
	// are dropped (and logged), so a flood cannot grow memory.
	maxPendingMails = 256
)

// DefaultConsentText is the consent wording under the form; %s is the
// list's title. Its hash is the consent version recorded.
const DefaultConsentText = "By subscribing you agree to receive %s by email. You can unsubscribe at any time with the link in every email, and we record when and how you subscribed."

// SignupSettings configure the public sign-up.
type SignupSettings struct {
	// BaseURL is the public address the confirmation link points at.
	BaseURL string
	// RecordIP keeps the client IP and user agent in consent records.
	RecordIP bool
	// BlockedDomains are address domains whose sign-ups are accepted
	// silently and sent nothing (a subdomain matches too).
	BlockedDomains []string
	// ConsentText replaces DefaultConsentText (%s: the list's title).
	ConsentText string
	// ConfirmTTL is how long a link works (default 7 days).
	ConfirmTTL time.Duration
	// MinFormAge and MaxFormAge bound the form's signed render time.
	MinFormAge, MaxFormAge time.Duration
	// Rate and Burst limit each client on POST /subscribe.
	Rate  rate.Limit
	Burst int
	// Accent is the brand colour of the pages.
	Accent string
	// Brand is the newsroom's name, shown with the list's.
	Brand string
}

//go:embed signup.html
var signupHTML string

var signupPages = template.Must(template.New("signup").Parse(signupHTML))

// signup is the state the sign-up routes share.
type signup struct {
	limiter *limiter
	keyMu   sync.Mutex
	key     []byte
	mails   sync.WaitGroup
	slots   chan struct{}
}

func (s *Server) mountSignup(mux *http.ServeMux) {
	st := &s.Signup
	if st.ConfirmTTL <= 0 {
		st.ConfirmTTL = subscribers.DefaultConfirm
	}
	if st.MinFormAge <= 0 {
		st.MinFormAge = DefaultMinFormAge
	}
	if st.MaxFormAge <= 0 {
		st.MaxFormAge = DefaultMaxFormAge
	}
	if st.Rate <= 0 {
		st.Rate = DefaultSignupRate
	}
	if st.Burst <= 0 {
		st.Burst = DefaultSignupBurst
	}
	if st.Accent == "" {
		st.Accent = "#b3261e"
	}
	s.signup = &signup{limiter: newLimiter(st.Rate, st.Burst), slots: make(chan struct{}, maxPendingMails)}
	mux.HandleFunc("GET /subscribe/{list}", s.signupForm)
	mux.HandleFunc("POST /subscribe/{list}", s.signupPost)
	mux.Handle("GET /confirm/{token}", s.rateLimited(http.HandlerFunc(s.confirmPage)))
	mux.Handle("POST /confirm/{token}", s.rateLimited(http.HandlerFunc(s.confirmPost)))
	mux.Handle("GET /p/{token}", s.rateLimited(http.HandlerFunc(s.prefsPage)))
	mux.Handle("POST /p/{token}", s.rateLimited(http.HandlerFunc(s.prefsPost)))
	mux.HandleFunc("GET /preferences", s.preferencesHelp)
}

// WaitConfirmations waits until every queued confirmation mail has been
// handed to the sender (tests, and shutdown).
func (s *Server) WaitConfirmations() {
	if s.signup != nil {
		s.signup.mails.Wait()
	}
}

// secret returns the database's signing key for name, loading it once.
func (s *Server) secret(ctx context.Context) ([]byte, error) {
	g := s.signup
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	if g.key != nil {
		return g.key, nil
	}
	k, err := s.Subs.WebSecret(ctx, "web")
	if err != nil {
		return nil, err
	}
	g.key = k
	return k, nil
}

func (s *Server) mac(ctx context.Context, parts ...string) (string, error) {
	key, err := s.secret(ctx)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	io.WriteString(h, strings.Join(parts, "\x00"))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18]), nil
}

// stamp signs the form's render time for the list.
func (s *Server) stamp(ctx context.Context, list string, at time.Time) (string, error) {
	t := strconv.FormatInt(at.Unix(), 10)
	m, err := s.mac(ctx, "form", list, t)
	return t + "." + m, err
}

// stampOK checks a signed render time: it must be ours, at least
// MinFormAge and at most MaxFormAge old.
func (s *Server) stampOK(ctx context.Context, list, v string, now time.Time) bool {
	t, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	want, err := s.mac(ctx, "form", list, t)
	if err != nil || !hmac.Equal([]byte(want), []byte(sig)) {
		return false
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(sec, 0))
	return age >= s.Signup.MinFormAge && age <= s.Signup.MaxFormAge
}

// signupList resolves {list} for the public sign-up: unknown, closed or
// (with no sender configured) every list answers the same 404.
func (s *Server) signupList(w http.ResponseWriter, r *http.Request) (subscribers.List, bool) {
	if s.Confirmations == nil {
		s.notFound(w)
		return subscribers.List{}, false
	}
	list, ok := s.archiveList(w, r)
	if ok && list.Signup == subscribers.SignupClosed {
		s.notFound(w)
		return list, false
	}
	return list, ok
}

// consentText is the wording under the list's form.
func (s *Server) consentText(list subscribers.List) string { return s.Signup.consent(list) }

// consent is the consent wording for the list: the configured text or
// DefaultConsentText, with the list's title for %s.
func (st SignupSettings) consent(list subscribers.List) string {
	t := st.ConsentText
	if t == "" {
		t = DefaultConsentText
	}
	if strings.Contains(t, "%s") {
		t = strings.Replace(t, "%s", list.DisplayTitle(), 1)
	}
	return t
}

type sectionBox struct {
	Name, Title string
	Checked     bool
}

type pageView struct {
	Lang, Title, ListTitle, Accent string
}

func (s *Server) view(list subscribers.List, title string) pageView {
	lt := list.DisplayTitle()
	if s.Signup.Brand != "" && s.Signup.Brand != lt {
		lt = s.Signup.Brand + " · " + lt
	}
	lang := list.Language
	if lang == "" {
		lang = "en"
	}
	return pageView{Lang: lang, Title: title, ListTitle: lt, Accent: s.Signup.Accent}
}

type formView struct {
	pageView
	Action, Error, Email, Name string
	Again                      bool
	MaxName                    int
	Sections                   []sectionBox
	Stamp, Consent             string
	ConsentVersion             string
}

func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, status int, list subscribers.List, fv formView) {
	stamp, err := s.stamp(r.Context(), list.Name, time.Now())
	if err != nil {
		s.internalError(w, "sign-up form", err)
		return
	}
	secs, err := s.Subs.ListSections(r.Context(), list)
	if err != nil {
		s.internalError(w, "sign-up form", err)
		return
	}
	picked := map[string]bool{}
	for _, n := range fv.Sections {
		picked[strings.ToLower(n.Name)] = true
	}
	fv.Sections = nil
	for _, c := range secs {
		fv.Sections = append(fv.Sections, sectionBox{Name: c.Name, Title: c.Title, Checked: picked[strings.ToLower(c.Name)]})
	}
	fv.pageView = s.view(list, "Subscribe to "+list.DisplayTitle())
	fv.Action = url.PathEscape(list.Name)
	fv.MaxName, fv.Stamp = subscribers.MaxNameLen, stamp
	fv.Consent = s.consentText(list)
	fv.ConsentVersion = subscribers.ConsentVersion(fv.Consent)
	noStore(w)
	s.signupPage(w, status, "signupForm", fv)
}

func (s *Server) signupPage(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := signupPages.ExecuteTemplate(w, name, data); err != nil {
		s.Logger.Error("render page", "page", name, "err", err)
	}
}

// signupForm answers GET /subscribe/{list}: the form, with a fresh
// signed render time.
func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	list, ok := s.signupList(w, r)
	if !ok {
		return
	}
	s.renderForm(w, r, http.StatusOK, list, formView{})
}

// signupInput is a sign-up as the form or the JSON body gives it.
type signupInput struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Sections []string `json:"sections"`
	Website  string   `json:"website"` // the honeypot
	Stamp    string   `json:"ts"`
	JSON     bool     `json:"-"`
}

// readSignup reads the body: a form (urlencoded or multipart) or JSON.
func readSignup(r *http.Request) (signupInput, int, string) {
	var in signupInput
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		in.JSON = true
		body, err := io.ReadAll(r.Body)
		if err != nil {
			_, status, msg := bodyRefused(err)
			return in, status, msg
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return in, http.StatusBadRequest, "The body is not valid JSON: send {\"email\": \"...\"}."
		}
		return in, 0, ""
	}
	form, status, msg := readForm(r)
	if status != 0 {
		if status == http.StatusUnsupportedMediaType {
			msg = "Send the form as application/x-www-form-urlencoded, multipart/form-data or application/json."
		}
		return in, status, msg
	}
	in.Email, in.Name, in.Sections = form.Get("email"), form.Get("name"), form["section"]
	in.Website, in.Stamp = form.Get("website"), form.Get("ts")
	return in, 0, ""
}

// accepted is the one answer to every sign-up that is not refused for
// its form: sent, already subscribed, limited, caught as a bot. It
// carries nothing of the request, so known and unknown addresses get the
// same bytes.
func (s *Server) accepted(w http.ResponseWriter, list subscribers.List, asJSON bool) {
	noStore(w)
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"check_inbox","message":"If the address can receive this list, a confirmation link is on its way."}`+"\n")
		return
	}
	s.signupPage(w, http.StatusOK, "checkInbox", s.view(list, "Check your inbox"))
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": msg})
}

// signupPost answers POST /subscribe/{list}.
func (s *Server) signupPost(w http.ResponseWriter, r *http.Request) {
	list, ok := s.signupList(w, r)
	if !ok {
		return
	}
	in, status, msg := readSignup(r)
	if status != 0 {
		if in.JSON || status == http.StatusUnsupportedMediaType {
			jsonError(w, status, msg)
			return
		}
		s.message(w, status, http.StatusText(status), msg)
		return
	}
	now := time.Now()
	// A CMS posting JSON server-side proves itself with a push-API token
	// instead of the form's stamp; it speaks for many readers from one
	// address, so the per-client limit is not its (the per-address
	// limits still are). A wrong token is told so: it reveals nothing
	// about addresses, and a CMS must not lose sign-ups silently.
	trusted := false
	if in.JSON && r.Header.Get("Authorization") != "" {
		if trusted, ok = s.cmsToken(w, r); !ok {
			return
		}
	}
	// Over the client's budget: the same answer, and no work at all.
	if !trusted {
		if ok, _ := s.signup.limiter.allow(s.clientKey(r), now); !ok {
			s.accepted(w, list, in.JSON)
			return
		}
	}
	addr, err := subscribers.NormalizeAddress(in.Email)
	if err != nil {
		const bad = "Please enter a valid email address, like name@example.com."
		if in.JSON {
			jsonError(w, http.StatusBadRequest, bad)
			return
		}
		boxes := make([]sectionBox, len(in.Sections))
		for i, n := range in.Sections {
			boxes[i] = sectionBox{Name: n}
		}
		s.renderForm(w, r, http.StatusBadRequest, list, formView{Error: bad, Email: in.Email, Name: clipName(in.Name), Sections: boxes})
		return
	}
	if !in.JSON && in.Stamp == "" && in.Website == "" {
		// A form pasted into the newsroom's site (digest lists form)
		// has no render time: show ours, filled in, for one more press.
		boxes := make([]sectionBox, len(in.Sections))
		for i, n := range in.Sections {
			boxes[i] = sectionBox{Name: n}
		}
		s.renderForm(w, r, http.StatusOK, list, formView{Again: true, Email: addr, Name: clipName(in.Name), Sections: boxes})
		return
	}
	// JSON without a token needs the stamp as the form does (a widget in
	// the reader's browser takes ts from GET /subscribe/LIST); without
	// either it is treated as a bot: the same answer, nothing sent.
	bot := in.Website != "" || !trusted && !s.stampOK(r.Context(), list.Name, in.Stamp, now)
	if bot || s.blocked(addr) {
		s.Logger.Info("sign-up dropped", "list", list.Name, "why", map[bool]string{true: "honeypot, timestamp or JSON without token", false: "blocked domain"}[bot])
		s.accepted(w, list, in.JSON)
		return
	}
	source := subscribers.SourceForm
	if in.JSON {
		source = subscribers.SourceAPI
	}
	req := subscribers.SignupRequest{Email: addr, Name: clipName(in.Name), List: list.Name, Sections: in.Sections, Source: source,
		ConsentVersion: subscribers.ConsentVersion(s.consentText(list)), TTL: s.Signup.ConfirmTTL}
	if s.Signup.RecordIP {
		req.IP, req.UserAgent = s.clientIP(r), r.UserAgent()
	}
	token, outcome, err := s.Subs.RequestSignup(r.Context(), req)
	if err != nil {
		s.internalError(w, "sign-up", err)
		return
	}
	if outcome == subscribers.SignupSend {
		s.queueConfirmation(list, addr, strings.TrimRight(s.Signup.BaseURL, "/")+"/confirm/"+token)
	}
	s.accepted(w, list, in.JSON)
}

// cmsToken checks the Authorization header of a JSON sign-up against the
// push API's tokens. It answers 401 itself (ok false) for a malformed,
// unknown or revoked token, or when no tokens are configured.
func (s *Server) cmsToken(w http.ResponseWriter, r *http.Request) (trusted, ok bool) {
	secret, ok := bearerSecret(r)
	if !ok || s.API == nil || s.API.Tokens == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="digest"`)
		jsonError(w, http.StatusUnauthorized, "send Authorization: Bearer TOKEN with a token of digest tokens create, or no Authorization header and the form's ts")
		return false, false
	}
	name, valid, err := s.API.Tokens.Check(r.Context(), secret)
	if err != nil {
		s.internalError(w, "sign-up token", err)
		return false, false
	}
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer realm="digest", error="invalid_token"`)
		jsonError(w, http.StatusUnauthorized, "the token is not valid: it may have been revoked")
		return false, false
	}
	s.Logger.Debug("sign-up from a CMS", "token", name)
	return true, true
}

func clipName(n string) string {
	n = subscribers.CleanName(n)
	if len(n) > subscribers.MaxNameLen {
		n = n[:subscribers.MaxNameLen]
	}
	return n
}

// blocked reports an address whose domain (or a parent of it) is on the
// block list.
func (s *Server) blocked(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	domain := strings.ToLower(addr[at+1:])
	for _, b := range s.Signup.BlockedDomains {
		b = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(b), "@"))
		if b != "" && (domain == b || strings.HasSuffix(domain, "."+b)) {
			return true
		}
	}
	return false
}

// queueConfirmation sends the confirmation in the background, so the
// answer takes the same time whether a mail goes out or not.
func (s *Server) queueConfirmation(list subscribers.List, to, link string) {
	g := s.signup
	select {
	case g.slots <- struct{}{}:
	default:
		s.Logger.Warn("confirmation mail dropped: too many queued", "list", list.Name)
		return
	}
	g.mails.Add(1)
	go func() {
		defer g.mails.Done()
		defer func() { <-g.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Confirmations.SendConfirmation(ctx, list, to, link); err != nil {
			s.Logger.Error("confirmation mail not sent", "list", list.Name, "err", err)
		}
	}()
}

// clientIP is the client's address as the rate limit sees it, unmasked.
func (s *Server) clientIP(r *http.Request) string {
	addr := s.clientAddr(r)
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

type confirmView struct {
	pageView
	PrefsURL, SignupURL string
}

// confirmPage answers GET /confirm/{token}: one button, no change, since
// mail scanners fetch every link in a message.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	_, list, err := s.Subs.SignupByToken(r.Context(), r.PathValue("token"))
	s.confirmAnswer(w, list, err, func() {
		s.signupPage(w, http.StatusOK, "confirmSignup", confirmView{pageView: s.view(list, "Confirm your subscription")})
	})
}

func (s *Server) confirmAnswer(w http.ResponseWriter, list subscribers.List, err error, ok func()) {
	switch {
	case errors.Is(err, subscribers.ErrUnknownToken):
		s.notFound(w)
	case errors.Is(err, subscribers.ErrTokenExpired):
		v := confirmView{pageView: s.view(list, "Link expired")}
		if list.Signup != subscribers.SignupClosed {
			v.SignupURL = "../subscribe/" + url.PathEscape(list.Name)
		}
		s.signupPage(w, http.StatusGone, "linkExpired", v)
	case err != nil:
		s.internalError(w, "confirm", err)
	default:
		ok()
	}
}

// confirmPost answers POST /confirm/{token}: the membership becomes
// active and the token stops working.
func (s *Server) confirmPost(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	io.Copy(io.Discard, r.Body) // the button's body carries nothing; the cap still applies
	var ip, ua string
	if s.Signup.RecordIP {
		ip, ua = s.clientIP(r), r.UserAgent()
	}
	c, err := s.Subs.Confirm(r.Context(), r.PathValue("token"), ip, ua)
	s.confirmAnswer(w, c.List, err, func() {
		s.Logger.Info("sign-up confirmed", "list", c.List.Name)
		s.signupPage(w, http.StatusOK, "confirmed", confirmView{pageView: s.view(c.List, "You are subscribed"),
			PrefsURL: "../p/" + url.PathEscape(c.Subscriber.PrefToken)})
	})
}

// preferencesHelp is where the archive's preference link points.
func (s *Server) preferencesHelp(w http.ResponseWriter, _ *http.Request) {
	s.message(w, http.StatusOK, "Preferences", "To choose sections, frequency or a pause, use the Preferences link at the bottom of any digest email you received: it is personal to you.")
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// FormSnippet is the sign-up form to paste into the newsroom's own site
// (digest lists form): plain HTML, no script, posting to the daemon. It
// carries no render stamp (it is static), so the daemon answers it with
// its own filled-in form to press once more.
func FormSnippet(st SignupSettings, list subscribers.List, sections []subscribers.SectionChoice) string {
	var b strings.Builder
	id := "digest-" + list.Name
	action := strings.TrimRight(st.BaseURL, "/") + "/subscribe/" + url.PathEscape(list.Name)
	e := template.HTMLEscapeString
	b.WriteString("<form method=\"post\" action=\"" + e(action) + "\" class=\"digest-signup\">\n")
	b.WriteString("  <label for=\"" + id + "-email\">Email address</label>\n")
	b.WriteString("  <input type=\"email\" id=\"" + id + "-email\" name=\"email\" required autocomplete=\"email\">\n")
	b.WriteString("  <label for=\"" + id + "-name\">Name (optional)</label>\n")
	b.WriteString("  <input type=\"text\" id=\"" + id + "-name\" name=\"name\" maxlength=\"" + strconv.Itoa(subscribers.MaxNameLen) + "\" autocomplete=\"name\">\n")
	if len(sections) > 0 {
		b.WriteString("  <fieldset>\n    <legend>Sections (none ticked: all of them)</legend>\n")
		for _, c := range sections {
			b.WriteString("    <label><input type=\"checkbox\" name=\"section\" value=\"" + e(c.Name) + "\"> " + e(c.Title) + "</label>\n")
		}
		b.WriteString("  </fieldset>\n")
	}
	b.WriteString("  <p>" + e(st.consent(list)) + "</p>\n")
	b.WriteString("  <button type=\"submit\">Subscribe to " + e(list.DisplayTitle()) + "</button>\n</form>\n")
	return b.String()
}
