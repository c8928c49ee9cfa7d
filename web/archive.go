package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

type archiveView struct {
	Title   string
	Path    string
	Entries []digest.ArchiveEntry
}

// archiveIndex answers GET /archive/{list}: the list's sent editions.
func (s *Server) archiveIndex(w http.ResponseWriter, r *http.Request) {
	list, ok := s.archiveList(w, r)
	if !ok {
		return
	}
	entries, err := s.Editions.ArchiveIndex(r.Context(), list.ID, ArchiveSize)
	if err != nil {
		s.internalError(w, "archive index", err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	// Links are relative to /archive/, so the archive works under any
	// path prefix a reverse proxy puts in front of it.
	s.page(w, http.StatusOK, "archive", archiveView{
		Title: list.DisplayTitle() + ": archive", Path: url.PathEscape(list.Name), Entries: entries,
	})
}

// archiveEdition answers GET /archive/{list}/{date}: the edition's HTML as
// sent, with the personal fields filled with neutral values, the greeting
// without a name, and the unsubscribe link pointing at a page that
// explains where the personal link is. No token and no address is in the
// stored edition, so none can leak from here.
func (s *Server) archiveEdition(w http.ResponseWriter, r *http.Request) {
	list, ok := s.archiveList(w, r)
	if !ok {
		return
	}
	date := r.PathValue("date")
	if _, err := time.Parse(digest.DateLayout, date); err != nil {
		s.notFound(w)
		return
	}
	ed, err := s.Editions.Archived(r.Context(), list.ID, date)
	if errors.Is(err, digest.ErrNoEdition) {
		s.notFound(w)
		return
	}
	if err != nil {
		s.internalError(w, "archive edition", err)
		return
	}
	// "../../unsubscribe" from /archive/LIST/DATE is /unsubscribe, under
	// whatever prefix the daemon is served.
	html, _ := ed.Personalize(digest.Recipient{UnsubscribeURL: "../../unsubscribe"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write([]byte(html))
}

// archiveList resolves {list}, answering 404 itself when it is unknown.
func (s *Server) archiveList(w http.ResponseWriter, r *http.Request) (subscribers.List, bool) {
	name := r.PathValue("list")
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "\x00") {
		s.notFound(w)
		return subscribers.List{}, false
	}
	list, err := s.Subs.GetList(r.Context(), name)
	if errors.Is(err, subscribers.ErrUnknownList) {
		s.notFound(w)
		return list, false
	}
	if err != nil {
		s.internalError(w, "archive list", err)
		return list, false
	}
	return list, true
}
