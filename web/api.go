package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/canon"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/tokens"
)

// DefaultAPIMaxBody caps a push API request: a few thousand stories.
const DefaultAPIMaxBody = 4 << 20

// API is the push API for a newsroom's CMS. Set it on Server.API to mount
// its routes.
type API struct {
	Stories *stories.Store
	Tokens  *tokens.Store
	// MaxBody caps request bodies (DefaultAPIMaxBody).
	MaxBody int64
}

func (s *Server) mountAPI(mux *http.ServeMux) {
	if s.API == nil {
		return
	}
	if s.API.MaxBody <= 0 {
		s.API.MaxBody = DefaultAPIMaxBody
	}
	mux.HandleFunc("POST /api/stories", s.authorized(s.apiPostStories))
	mux.HandleFunc("DELETE /api/stories", s.authorized(s.apiHideStory))
}

// apiError is every error answer of the API.
type apiError struct {
	Error string              `json:"error"`
	Items []stories.ItemError `json:"items,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// authorized requires "Authorization: Bearer TOKEN" with a stored token.
func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearerSecret(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="digest"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing bearer token: send Authorization: Bearer TOKEN (digest tokens create NAME makes one)"})
			return
		}
		name, ok, err := s.API.Tokens.Check(r.Context(), secret)
		if err != nil {
			s.Logger.Error("api: check token", "err", err)
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error"})
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="digest", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "the token is not valid: it may have been revoked"})
			return
		}
		s.Logger.Debug("api request", "token", name, "method", r.Method)
		next(w, r)
	}
}

// bearerSecret is the secret of "Authorization: Bearer SECRET", ok
// false when the header is missing or of another scheme.
func bearerSecret(r *http.Request) (string, bool) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	return secret, strings.EqualFold(scheme, "Bearer") && secret != ""
}

// apiPostStories stores one story or an array of them, all or none.
func (s *Server) apiPostStories(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "send the stories as Content-Type: application/json"})
		return
	}
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "the body is over the size cap: send the stories in smaller batches"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "could not read the body"})
		return
	}
	now := time.Now
	if s.API.Stories.Now != nil {
		now = s.API.Stories.Now
	}
	sts, bad, err := stories.ParseBatch(body, now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	if len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "some stories are not valid: nothing was stored", Items: bad})
		return
	}
	// Under the URL a feed gives the same article, so a CMS link with
	// ?utm_source=cms updates the feed's story instead of making another.
	for i := range sts {
		sts[i].URL = canon.StoryURL(sts[i].URL)
	}
	if err := s.API.Stories.AddAll(r.Context(), sts); err != nil {
		s.Logger.Error("api: store stories", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error: nothing was stored"})
		return
	}
	ids := make([]int64, len(sts))
	for i, st := range sts {
		ids[i] = st.ID
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ids": ids})
}

// apiHideStory hides the story with ?url= (the CMS unpublished it).
func (s *Server) apiHideStory(w http.ResponseWriter, r *http.Request) {
	u := strings.TrimSpace(r.URL.Query().Get("url"))
	if u == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "give the story's url: DELETE /api/stories?url=https://..."})
		return
	}
	// Stored URLs are canonical: the CMS may ask with its tracking link.
	st, err := s.API.Stories.HideURL(r.Context(), canon.StoryURL(u))
	if errors.Is(err, stories.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	}
	if err != nil {
		s.Logger.Error("api: hide story", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": st.ID, "hidden": true})
}
