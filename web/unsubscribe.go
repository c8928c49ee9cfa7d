package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/newsroom/digest/subscribers"
)

// unsubscribeView is what the unsubscribe pages show: list titles and
// membership states, never the address.
type unsubscribeView struct {
	Title, Name                   string
	Several                       bool
	Active, Unsubscribed, Bounced []subscribers.TokenMembership
}

func newUnsubscribeView(title string, ms []subscribers.TokenMembership, list string) unsubscribeView {
	v := unsubscribeView{Title: title, Several: list == "" && len(ms) > 1}
	for _, m := range ms {
		switch m.Status {
		case subscribers.StatusActive:
			v.Active = append(v.Active, m)
		case subscribers.StatusUnsubscribed:
			v.Unsubscribed = append(v.Unsubscribed, m)
		default:
			v.Bounced = append(v.Bounced, m)
		}
	}
	switch {
	case len(ms) == 1:
		v.Name = ms[0].List.DisplayTitle()
	case len(ms) == 0:
		v.Name = "our newsletters"
	default:
		v.Name = "all our newsletters"
	}
	return v
}

// noStore keeps the token's pages out of caches and shared history.
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// unsubscribePage answers GET /u/{token}: it shows the state and a
// confirm button, and changes nothing, because mail scanners and link
// previews follow every link in a message.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	list := r.URL.Query().Get("list")
	ms, err := s.Subs.MembershipsByToken(r.Context(), r.PathValue("token"), list)
	if errors.Is(err, subscribers.ErrUnknownToken) {
		s.notFound(w)
		return
	}
	if err != nil {
		s.internalError(w, "unsubscribe page", err)
		return
	}
	s.page(w, http.StatusOK, "confirm", newUnsubscribeView("Unsubscribe", ms, list))
}

// unsubscribePost answers POST /u/{token}. With the RFC 8058 body
// List-Unsubscribe=One-Click it unsubscribes at once and answers 200,
// with no redirect and no cookie, as mailbox providers expect; with
// action=resubscribe (the page's second button) it undoes that. Anything
// else is refused before the token is even looked up.
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	form, status, problem := readForm(r)
	if status != 0 {
		s.message(w, status, http.StatusText(status), problem)
		return
	}
	var resubscribe bool
	switch {
	case form.Get("List-Unsubscribe") == "One-Click":
	case form.Get("action") == "resubscribe":
		resubscribe = true
	default:
		s.message(w, http.StatusBadRequest, "Bad request", "The request must carry List-Unsubscribe=One-Click (RFC 8058).")
		return
	}
	token, list := r.PathValue("token"), r.URL.Query().Get("list")
	change := func(ctx context.Context, token, list string) ([]subscribers.TokenMembership, error) {
		return s.Subs.UnsubscribeByTokenWithin(ctx, token, list, UnsubscribeWait)
	}
	if resubscribe {
		change = s.Subs.ResubscribeByToken
	}
	before, _ := s.Subs.MembershipsByToken(r.Context(), token, list)
	ms, err := change(r.Context(), token, list)
	if err == nil && !resubscribe {
		s.recordUnsubscribe(r, token, before, ms, form.Get("source") == "page")
	}
	if errors.Is(err, subscribers.ErrUnknownToken) {
		s.notFound(w)
		return
	}
	if err != nil && !resubscribe && s.Journal != nil {
		ms, err = s.journal(r.Context(), token, list, err)
		if errors.Is(err, subscribers.ErrUnknownToken) {
			s.notFound(w)
			return
		}
	}
	if err != nil {
		s.internalError(w, "unsubscribe", err)
		return
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.List.Name
	}
	if resubscribe {
		if s.Metrics != nil {
			s.Metrics.Resubscribes.Inc()
		}
		s.Logger.Info("resubscribed through the unsubscribe page", "lists", strings.Join(names, ","))
		s.page(w, http.StatusOK, "resubscribed", newUnsubscribeView("Subscribed again", ms, list))
		return
	}
	if s.Metrics != nil {
		s.Metrics.Unsubscribes.Inc()
	}
	s.Logger.Info("unsubscribed by link", "lists", strings.Join(names, ","))
	s.page(w, http.StatusOK, "unsubscribed", newUnsubscribeView("Unsubscribed", ms, list))
}

// UnsubscribeWait is how long a one-click unsubscribe waits for another
// writer's lock before it is journalled instead.
const UnsubscribeWait = 2 * time.Second

// journal keeps an unsubscribe the database could not take at once
// (writeErr) and returns the memberships as they will be once it is
// written. The token is checked first when the database can be read
// (WAL readers are not blocked by a writer), so an unknown token still
// gets the same 404; when even that fails, the request is journalled
// unchecked, and applying it later drops it if the token is unknown.
func (s *Server) journal(ctx context.Context, token, list string, writeErr error) ([]subscribers.TokenMembership, error) {
	ms, err := s.Subs.MembershipsByToken(ctx, token, list)
	if errors.Is(err, subscribers.ErrUnknownToken) {
		return nil, err
	}
	if err := s.Journal.Append(token, list, time.Now()); err != nil {
		return nil, fmt.Errorf("%w; and %w", writeErr, err)
	}
	s.Logger.Warn("unsubscribe journalled: the database was busy; it is written within seconds", "err", writeErr.Error())
	for i := range ms {
		if ms[i].Status == subscribers.StatusActive {
			ms[i].Status = subscribers.StatusUnsubscribed
		}
	}
	return ms, nil
}

// KeepJournal writes journalled unsubscribes into the database at once
// and then every interval until ctx ends.
func (s *Server) KeepJournal(ctx context.Context, every time.Duration) {
	if s.Journal == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Subs.ApplyJournal(ctx, s.Journal)
		if err != nil && ctx.Err() == nil {
			s.Logger.Warn("journalled unsubscribes not written yet; trying again", "err", err)
		} else if n > 0 {
			s.Logger.Info("journalled unsubscribes written", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readForm reads an RFC 8058 POST body: application/x-www-form-urlencoded
// or multipart/form-data, within the body limit set in common. A non-zero
// status says why it was refused.
func readForm(r *http.Request) (url.Values, int, string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	form := url.Values{}
	switch mt {
	case "application/x-www-form-urlencoded":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return bodyRefused(err)
		}
		form, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, http.StatusBadRequest, "The form body is not valid."
		}
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return bodyRefused(err)
			}
			if p.FormName() == "" || p.FileName() != "" {
				continue // files have no place here; the body limit bounds them
			}
			v, err := io.ReadAll(p)
			if err != nil {
				return bodyRefused(err)
			}
			form.Add(p.FormName(), string(v))
		}
	default:
		return nil, http.StatusUnsupportedMediaType, "Send the form as application/x-www-form-urlencoded or multipart/form-data."
	}
	return form, 0, ""
}

// bodyRefused tells a body over the limit from a malformed one.
func bodyRefused(err error) (url.Values, int, string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, http.StatusRequestEntityTooLarge, "The request body is too large."
	}
	return nil, http.StatusBadRequest, "The form body is not valid."
}

// unsubscribeHelp is where the archive's footer link points: the archive
// carries no one's token, so it can only explain.
func (s *Server) unsubscribeHelp(w http.ResponseWriter, _ *http.Request) {
	s.message(w, http.StatusOK, "Unsubscribe", "To unsubscribe, use the Unsubscribe link at the bottom of any digest email you received: it is personal to you and works in one click.")
}
