// Package web serves what subscribers reach in a browser or a mail
// client: one-click unsubscribe (RFC 8058), the web archive of sent
// editions, and the operator's /healthz and /metrics.
package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/listen"
	"github.com/newsroom/digest/metrics"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// Defaults of the Server's limits.
const (
	// DefaultMaxBody caps every request body. An RFC 8058 one-click body
	// is 26 bytes; a multipart one a few hundred.
	DefaultMaxBody = 16 << 10
	// DefaultUnsubscribeRate and DefaultUnsubscribeBurst limit each client
	// on /u/: a mailbox provider's one-click requests come from a few
	// addresses, so the burst is generous, while guessing tokens at this
	// pace is hopeless against 256-bit tokens anyway.
	DefaultUnsubscribeRate  = rate.Limit(2)
	DefaultUnsubscribeBurst = 60
	// ArchiveSize is how many editions the archive index lists.
	ArchiveSize = 365
)

// Server holds what the handlers need. Set the fields, then call Handler.
type Server struct {
	Subs     *subscribers.Store
	Editions *digest.Editions
	// Metrics, when set, is served at /metrics and counts unsubscribes.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Sending reports whether this process holds the sending lease, for
	// /healthz; nil reports nothing.
	Sending func() bool
	// MaxBody caps request bodies (default DefaultMaxBody).
	MaxBody int64
	// UnsubscribeRate and UnsubscribeBurst limit requests per client on
	// /u/ (defaults above).
	UnsubscribeRate  rate.Limit
	UnsubscribeBurst int
	// TrustForwardedFor takes the client address for the rate limit from
	// the last X-Forwarded-For entry, as a reverse proxy in front of the
	// daemon sets it. Off by default: anyone can send that header.
	TrustForwardedFor bool
	// Brand dresses the pages as the emails are: the newsroom's name
	// (linked to Link when set) and accent colour. Empty fields take
	// templates.DefaultBrand's.
	Brand templates.Brand
	// Journal keeps one-click unsubscribes the database could not take
	// within UnsubscribeWait; nil answers 500 instead.
	Journal *subscribers.Journal
	// API, when set, mounts the push API (POST and DELETE /api/stories).
	API *API
	// Deliveries, when set, reads a subscriber's delivery records (the
	// ledger is the delivery engine's table, which web does not link) for
	// the preference page's "download my data".
	Deliveries func(ctx context.Context, subscriberID int64) ([]subscribers.DeliveryRecord, error)
	// Confirmations sends sign-up confirmation mails; nil turns the
	// public sign-up off (/subscribe answers 404).
	Confirmations ConfirmationSender
	// Signup configures the public sign-up and the preference page.
	Signup SignupSettings
	// Webhooks, when set, serves the providers' bounce and complaint
	// webhooks under /webhooks/.
	Webhooks *bounces.Webhooks
	// ClickKey verifies /r/ redirect links (aggregate click counting);
	// without it every /r/ link is refused.
	ClickKey []byte

	limiter *limiter
	signup  *signup
	pages   *template.Template
}

//go:embed pages.html
var pagesHTML string

// pages is parsed once; each Server clones it with its own brand.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"brand": func() templates.Brand { return templates.DefaultBrand },
}).Parse(pagesHTML))

// Handler returns the routes:
//
//	GET  /u/{token}           the unsubscribe page (never unsubscribes)
//	POST /u/{token}           List-Unsubscribe=One-Click unsubscribes; action=resubscribe undoes it
//	GET  /unsubscribe         how to unsubscribe, for the archive's footer link
//	GET  /archive/{list}      the list's sent editions
//	GET  /archive/{list}/{date}  one edition, without personal data
//	GET  /subscribe/{list}    the sign-up form; POST signs up (double opt-in)
//	GET  /confirm/{token}     the confirmation button; POST confirms
//	GET  /p/{token}           the preference page; POST changes it
//	GET  /healthz             liveness and database check, JSON
//	GET  /metrics             Prometheus metrics
//	POST /api/stories         the push API (with API set; see api.go)
//	DELETE /api/stories?url=  hides a story (with API set)
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxBody <= 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.UnsubscribeRate <= 0 {
		s.UnsubscribeRate = DefaultUnsubscribeRate
	}
	if s.UnsubscribeBurst <= 0 {
		s.UnsubscribeBurst = DefaultUnsubscribeBurst
	}
	s.limiter = newLimiter(s.UnsubscribeRate, s.UnsubscribeBurst)
	brand := templates.DefaultBrand
	if s.Brand.Name != "" {
		brand.Name = s.Brand.Name
	}
	if s.Brand.Link != "" {
		brand.Link = s.Brand.Link
	}
	if s.Brand.Accent != "" {
		brand.Accent = s.Brand.Accent
	}
	// The pages put white text on accent buttons: draw the accent in its
	// light shade, which keeps 4.5:1 (templates.Brand.Accents).
	brand.Accent = brand.AccentLight()
	s.pages = template.Must(pages.Clone()).Funcs(template.FuncMap{"brand": func() templates.Brand { return brand }})
	mux := http.NewServeMux()
	mux.Handle("GET /u/{token}", s.rateLimited(http.HandlerFunc(s.unsubscribePage)))
	mux.Handle("POST /u/{token}", s.rateLimited(http.HandlerFunc(s.unsubscribePost)))
	mux.HandleFunc("GET /unsubscribe", s.unsubscribeHelp)
	mux.HandleFunc("GET /archive/{list}", s.archiveIndex)
	mux.HandleFunc("GET /archive/{list}/{date}", s.archiveEdition)
	mux.HandleFunc("GET /r/{edition}/{story}/{hmac}", s.redirect)
	if s.Webhooks != nil {
		s.Webhooks.Register(mux)
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	s.mountAPI(mux)
	s.mountSignup(mux) // sign-up, confirmation and preferences: signup.go, prefs.go
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { s.notFound(w) })
	return s.common(mux)
}

// common sets the headers every response carries, caps the body and logs
// the request without secrets.
func (s *Server) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		limit := s.MaxBody
		if s.API != nil && strings.HasPrefix(r.URL.Path, "/api/") {
			limit = s.API.MaxBody
		}
		if isWebhook(r.URL.Path) {
			limit = max(limit, WebhookMaxBody)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case r.URL.Path == "/healthz" || r.URL.Path == "/metrics":
			level = slog.LevelDebug
		}
		s.Logger.Log(r.Context(), level, "http", "method", r.Method, "path", redactPath(r.URL.Path),
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond).String())
	})
}

// redactPath keeps unsubscribe tokens (secrets) out of the logs.
func redactPath(p string) string {
	for _, secret := range []string{"/u/", "/confirm/", "/p/"} {
		if strings.HasPrefix(p, secret) {
			return secret + "***"
		}
	}
	return p
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// page renders one of pages.html's templates.
func (s *Server) page(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.Logger.Error("render page", "page", name, "err", err)
	}
}

type message struct{ Title, Text string }

func (s *Server) message(w http.ResponseWriter, status int, title, text string) {
	s.page(w, status, "message", message{title, text})
}

// notFound is the one answer to every unknown path, token, list or date,
// so that none of them tells one from another.
func (s *Server) notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	s.message(w, http.StatusNotFound, "Page not found", "This link is not valid. If you copied it from an email, check that it is complete.")
}

func (s *Server) internalError(w http.ResponseWriter, what string, err error) {
	s.Logger.Error(what, "err", err)
	s.message(w, http.StatusInternalServerError, "Something went wrong", "Please try again in a few minutes.")
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok"}
	status := http.StatusOK
	if err := s.Subs.DB.PingContext(ctx); err != nil {
		body["status"], body["error"] = "unavailable", "database unreachable"
		status = http.StatusServiceUnavailable
		s.Logger.Error("healthz: database", "err", err)
	}
	if s.Sending != nil {
		body["sending"] = s.Sending()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// HTTPServer wraps h in an http.Server with the timeouts a public
// endpoint needs: slow clients cannot hold connections open.
func HTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// ErrAddrInUse reports a listen address another process already holds.
var ErrAddrInUse = listen.ErrAddrInUse

// Listen opens the TCP listener for addr, explaining the usual failures
// (the shared explanation of internal/listen, naming --http).
func Listen(addr string) (net.Listener, error) { return listen.TCP(addr, "--http") }
