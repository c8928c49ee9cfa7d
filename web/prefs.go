package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/newsroom/digest/subscribers"
)

type prefsList struct {
	Name, Title, WeeklyDay string
	Active, Unsubscribed   bool
	Weekly                 bool
	PausedUntil            string
	Sections               []sectionBox
}

type prefsView struct {
	pageView
	CSRF, Notice, Error string
	Lists               []prefsList
	AnyActive           bool
}

// csrf is the preference page's form token: bound to the page's own
// token by the database's key, so a form on another site cannot make
// one, and no cookie or session is needed.
func (s *Server) csrf(r *http.Request, token string) (string, error) {
	return s.mac(r.Context(), "csrf", token)
}

func (s *Server) prefsView(r *http.Request, token string, ms []subscribers.MemberPrefs) (prefsView, error) {
	v := prefsView{pageView: s.view(subscribers.List{Title: "Your email preferences"}, "Your email preferences")}
	if s.Signup.Brand != "" {
		v.ListTitle = s.Signup.Brand
	}
	var err error
	if v.CSRF, err = s.csrf(r, token); err != nil {
		return v, err
	}
	for _, m := range ms {
		secs, err := s.Subs.ListSections(r.Context(), m.List)
		if err != nil {
			return v, err
		}
		chosen := map[string]bool{}
		for _, n := range strings.Split(m.Sections, ",") {
			chosen[n] = n != ""
		}
		pl := prefsList{Name: m.List.Name, Title: m.List.DisplayTitle(), WeeklyDay: m.List.WeeklyDay.String(),
			Active: m.Status == subscribers.StatusActive, Unsubscribed: m.Status == subscribers.StatusUnsubscribed,
			Weekly: m.Frequency == subscribers.FrequencyWeekly, PausedUntil: m.PausedUntil}
		for _, c := range secs {
			pl.Sections = append(pl.Sections, sectionBox{Name: c.Name, Title: c.Title, Checked: chosen[strings.ToLower(c.Name)]})
		}
		v.AnyActive = v.AnyActive || pl.Active
		v.Lists = append(v.Lists, pl)
	}
	return v, nil
}

// prefsHolder looks up the holder of a preference-page token; when there
// is none (404) or the store fails (500) it has answered and ok is false.
func (s *Server) prefsHolder(w http.ResponseWriter, r *http.Request, token string) (subscribers.Subscriber, []subscribers.MemberPrefs, bool) {
	sub, ms, err := s.Subs.ByPrefToken(r.Context(), token)
	if errors.Is(err, subscribers.ErrUnknownToken) {
		s.notFound(w)
		return sub, nil, false
	}
	if err != nil {
		s.internalError(w, "preferences", err)
		return sub, nil, false
	}
	return sub, ms, true
}

// prefsPage answers GET /p/{token}: the reader's lists and choices.
// Nothing changes on GET.
func (s *Server) prefsPage(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	token := r.PathValue("token")
	_, ms, ok := s.prefsHolder(w, r, token)
	if !ok {
		return
	}
	v, err := s.prefsView(r, token, ms)
	if err != nil {
		s.internalError(w, "preferences", err)
		return
	}
	s.signupPage(w, http.StatusOK, "prefs", v)
}

// prefsPost answers POST /p/{token}: one change per request, named by
// action, each with the page's CSRF token.
func (s *Server) prefsPost(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	form, status, problem := readForm(r)
	if status != 0 {
		s.message(w, status, http.StatusText(status), problem)
		return
	}
	token := r.PathValue("token")
	sub, ms, ok := s.prefsHolder(w, r, token)
	if !ok {
		return
	}
	want, err := s.csrf(r, token)
	if err != nil {
		s.internalError(w, "preferences", err)
		return
	}
	if !hmacEqual(want, form.Get("csrf")) {
		s.message(w, http.StatusForbidden, "Forbidden", "This form has expired. Open the preference page again from your email and retry.")
		return
	}
	c := subscribers.Change{Source: subscribers.SourcePreferences}
	if s.Signup.RecordIP {
		c.IP, c.UserAgent = s.clientIP(r), r.UserAgent()
	}
	list := form.Get("list")
	onList := list == ""
	for _, m := range ms {
		onList = onList || m.List.Name == list
	}
	if !onList {
		s.notFound(w)
		return
	}
	ctx := r.Context()
	var notice, problemText string
	switch form.Get("action") {
	case "save":
		if list == "" {
			problemText = "Pick a list."
			break
		}
		err = s.Subs.SetPrefs(ctx, sub.ID, list, form["section"], form.Get("frequency"), strings.TrimSpace(form.Get("paused_until")), c)
		if errors.Is(err, subscribers.ErrInvalidPrefs) {
			problemText, err = strings.TrimPrefix(err.Error(), subscribers.ErrInvalidPrefs.Error()+": "), nil
		} else if err == nil {
			notice = "Saved. The next edition follows your choices."
		}
	case "unsubscribe", "unsubscribe-all", "resubscribe":
		to := subscribers.StatusUnsubscribed
		if form.Get("action") == "resubscribe" {
			to = subscribers.StatusActive
		}
		if form.Get("action") == "unsubscribe-all" {
			list = ""
		}
		if _, err = s.Subs.SetStatusByID(ctx, sub.ID, list, to, c); err == nil {
			notice = "Unsubscribed."
			if to == subscribers.StatusActive {
				notice = "Subscribed again."
			}
		}
	case "download":
		data, err := s.Subs.ExportPerson(ctx, sub.Email)
		if err == nil && s.Deliveries != nil {
			data.Details.Deliveries, err = s.Deliveries(ctx, data.Details.ID)
		}
		if err != nil {
			s.internalError(w, "download data", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="my-data.json"`)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(data)
		return
	case "erase":
		v, err := s.prefsView(r, token, nil)
		if err != nil {
			s.internalError(w, "preferences", err)
			return
		}
		s.signupPage(w, http.StatusOK, "eraseConfirm", v)
		return
	case "erase-confirm":
		if _, err := s.Subs.Remove(ctx, sub.Email); err != nil {
			s.internalError(w, "erase", err)
			return
		}
		s.Logger.Info("subscriber erased through the preference page")
		v, _ := s.prefsView(r, token, nil)
		s.signupPage(w, http.StatusOK, "erased", v)
		return
	default:
		s.message(w, http.StatusBadRequest, "Bad request", "Unknown action.")
		return
	}
	if err != nil {
		s.internalError(w, "preferences", err)
		return
	}
	_, ms, err = s.Subs.ByPrefToken(ctx, token)
	if err != nil {
		s.internalError(w, "preferences", err)
		return
	}
	v, err := s.prefsView(r, token, ms)
	if err != nil {
		s.internalError(w, "preferences", err)
		return
	}
	v.Notice, v.Error = notice, problemText
	status = http.StatusOK
	if problemText != "" {
		status = http.StatusBadRequest
	}
	s.signupPage(w, status, "prefs", v)
}
