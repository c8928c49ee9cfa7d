package preview

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/internal/fitness"
	"github.com/newsroom/digest/internal/listen"
	"github.com/newsroom/digest/subscribers"
)

//go:embed ui/*.html
var uiFS embed.FS

var pages = template.Must(template.ParseFS(uiFS, "ui/*.html"))

// DefaultAddr is where the preview listens unless told otherwise:
// loopback only, since it shows unsent editions and, with ?as=,
// subscribers' names.
const DefaultAddr = "127.0.0.1:8025"

// PastEditions is how many stored editions the index lists per list.
const PastEditions = 30

// Server is the local web preview. It holds no state of its own: each
// request reads the store, so changes show on reload without a restart.
type Server struct {
	Source *Source
	// Logf, when set, receives one line per failed request.
	Logf func(format string, args ...any)
	// Mailpit, when set, measures each edition shown with Mailpit's
	// HTML check; without it the page says how to turn it on.
	Mailpit *fitness.Mailpit
}

// Handler routes the preview's pages:
//
//	/                               lists, their stored editions and "next"
//	/lists/{list}/{date}            one edition: checks, headers, size, stories, HTML at 1200 and 375 px, text
//	/lists/{list}/{date}/html       the HTML part as sent
//	/lists/{list}/{date}/text       the plain-text part as sent
//	/lists/{list}/{date}/eml        the whole message, for a mail client
//
// {date} is YYYY-MM-DD or "next"; ?as=EMAIL shows a subscriber's copy.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /lists/{list}/{date}", s.edition)
	mux.HandleFunc("GET /lists/{list}/{date}/{part}", s.part)
	return secureHeaders(mux)
}

// secureHeaders keeps the preview's pages from running anything: the
// UI has no script and the email must not either (mail clients run
// none); framing is allowed only by the preview itself.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type listEntry struct {
	List    subscribers.List
	NextURL string
	Past    []pastEntry
}

type pastEntry struct {
	digest.Summary
	URL string
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lists, err := s.Source.Lists(ctx)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "The store could not be read", err)
		return
	}
	data := struct {
		Title string
		Lists []listEntry
	}{Title: "Lists and editions"}
	for _, l := range lists {
		past, err := s.Source.Past(ctx, l, PastEditions)
		if err != nil {
			s.fail(w, http.StatusInternalServerError, "The store could not be read", err)
			return
		}
		e := listEntry{List: l, NextURL: EditionURL(l.Name, NextDate, "")}
		for _, p := range past {
			e.Past = append(e.Past, pastEntry{Summary: p, URL: EditionURL(l.Name, p.Date, "")})
		}
		data.Lists = append(data.Lists, e)
	}
	s.render(w, http.StatusOK, "index.html", data)
}

// EditionURL is the path of an edition's page, as a subscriber when as
// is not empty.
func EditionURL(list, date, as string) string { return partURL(list, date, "", as) }

// partURL is the path of one part (html, text, eml) of an edition, or of
// its page for part "".
func partURL(list, date, part, as string) string {
	u := "/lists/" + url.PathEscape(list) + "/" + url.PathEscape(date)
	if part != "" {
		u += "/" + part
	}
	if as != "" {
		u += "?as=" + url.QueryEscape(as)
	}
	return u
}

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// view loads and renders the edition the request names, answering the
// error itself when it cannot.
func (s *Server) view(w http.ResponseWriter, r *http.Request) (View, bool) {
	ctx := r.Context()
	list, date, as := r.PathValue("list"), r.PathValue("date"), r.URL.Query().Get("as")
	if date != NextDate && !datePattern.MatchString(date) {
		s.fail(w, http.StatusNotFound, "No such edition", fmt.Errorf("%q is not an edition date: use YYYY-MM-DD or next", date))
		return View{}, false
	}
	ed, err := s.Source.Load(ctx, list, date)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, subscribers.ErrUnknownList) {
			status = http.StatusNotFound
		}
		s.fail(w, status, "No such edition", err)
		return View{}, false
	}
	rcpt, err := s.Source.Recipient(ctx, as)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, subscribers.ErrUnknownSubscriber) {
			status = http.StatusNotFound
		}
		s.fail(w, status, "No such subscriber", err)
		return View{}, false
	}
	if q := r.URL.Query().Get("variant"); q != "" {
		p, err := ParseVariant(q)
		if err == nil {
			ed, err = s.Source.Variant(ctx, ed, p)
		}
		if err != nil {
			s.fail(w, http.StatusNotFound, "No such variant", err)
			return View{}, false
		}
	} else if ed, err = s.Source.ForReader(ctx, ed, rcpt); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNothingForReader) {
			status = http.StatusNotFound
		}
		s.fail(w, status, "Nothing for this reader", err)
		return View{}, false
	}
	v, err := s.Source.Render(ed, rcpt, "")
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "The edition could not be rendered", err)
		return View{}, false
	}
	return v, true
}

func (s *Server) edition(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	list, date, as := r.PathValue("list"), r.PathValue("date"), r.URL.Query().Get("as")
	title := v.Edition.List.DisplayTitle() + " · " + v.Edition.Date
	variants, err := s.Source.VariantsOf(r.Context(), v.Edition)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "The store could not be read", err)
		return
	}
	q := r.URL.Query()
	q.Del("as")
	partQuery := func(part string) string {
		u := partURL(list, date, part, as)
		if vq := q.Get("variant"); vq != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "variant=" + url.QueryEscape(vq)
		}
		return u
	}
	s.render(w, http.StatusOK, "edition.html", map[string]any{
		"Title":       title,
		"View":        v,
		"As":          as,
		"Built":       v.Edition.CreatedAt.Format("2006-01-02 15:04 MST"),
		"SelfURL":     EditionURL(list, date, ""),
		"HTMLURL":     partQuery("html"),
		"TextURL":     partQuery("text"),
		"EMLURL":      partQuery("eml"),
		"Variants":    variants,
		"MessageSize": FormatBytes(len(v.Message)),
		"HTMLSize":    FormatBytes(v.HTMLPartBytes),
		"ClipShare":   fmt.Sprintf("%.0f", 100*float64(v.HTMLPartBytes)/GmailClipBytes),
		"Fitness":     s.fitnessOf(r.Context(), v),
		"Report":      s.reportOf(r.Context(), v.Edition),
		"Targets":     fmt.Sprintf("at least %.0f %% supported, at most %.1f %% unsupported", fitness.MinSupported, fitness.MaxUnsupported),
	})
}

func (s *Server) part(w http.ResponseWriter, r *http.Request) {
	var ctype string
	switch r.PathValue("part") {
	case "html":
		ctype = "text/html; charset=utf-8"
	case "text":
		ctype = "text/plain; charset=utf-8"
	case "eml":
		ctype = "message/rfc822"
	default:
		s.fail(w, http.StatusNotFound, "No such page", fmt.Errorf("%q is not a part: use html, text or eml", r.PathValue("part")))
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", ctype)
	switch r.PathValue("part") {
	case "html":
		w.Write([]byte(v.HTML))
	case "text":
		w.Write([]byte(v.Text))
	default:
		name := fmt.Sprintf("%s-%s.eml", v.Edition.List.Name, v.Edition.Date)
		w.Header().Set("Content-Disposition", "attachment; filename="+url.PathEscape(name))
		w.Write(v.Message)
	}
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, page, data); err != nil && s.Logf != nil {
		s.Logf("preview: render %s: %v", page, err)
	}
}

func (s *Server) fail(w http.ResponseWriter, status int, title string, err error) {
	if s.Logf != nil && status >= 500 {
		s.Logf("preview: %v", err)
	}
	s.render(w, status, "error.html", map[string]any{"Title": title, "Message": err.Error()})
}

// Listen opens the preview's address. A port already taken gets an
// error that names it and says what to do (internal/listen, naming
// --addr).
func Listen(addr string) (net.Listener, error) { return listen.TCP(addr, "--addr") }

// IsLoopback reports whether addr's host is a loopback address or
// localhost, so the CLI can warn before exposing unsent editions.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve answers on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if s.Logf != nil {
		srv.ErrorLog = log.New(logWriter(s.Logf), "", 0)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

type logWriter func(format string, args ...any)

func (l logWriter) Write(p []byte) (int, error) {
	l("%s", string(p))
	return len(p), nil
}
