package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/clicks"
	"github.com/newsroom/digest/subscribers"
)

// WebhookMaxBody caps a webhook's body: SNS messages go up to 256 KB and
// SendGrid batches events.
const WebhookMaxBody = 1 << 20

// redirect answers GET and HEAD /r/{edition}/{story}/{hmac}: 302 to the
// story, counting one click for the edition and story unless the
// request is a HEAD or comes from a link scanner. A link whose HMAC does
// not verify gets the 404 page and no redirect, so the endpoint cannot
// send anyone anywhere else.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	ed, err1 := strconv.ParseInt(r.PathValue("edition"), 10, 64)
	story, err2 := strconv.ParseInt(r.PathValue("story"), 10, 64)
	if err1 != nil || err2 != nil || len(s.ClickKey) == 0 || !clicks.Verify(s.ClickKey, ed, story, r.PathValue("hmac")) {
		s.notFound(w)
		return
	}
	target, err := clicks.StoryURL(r.Context(), s.Subs.DB, ed, story)
	if errors.Is(err, clicks.ErrUnknownStory) {
		s.notFound(w)
		return
	}
	if err != nil {
		s.internalError(w, "redirect", err)
		return
	}
	if r.Method == http.MethodGet && !clicks.IsScanner(r.UserAgent()) {
		if err := clicks.Count(r.Context(), s.Subs.DB, ed, story); err != nil {
			s.Logger.Warn("click not counted", "err", err) // the reader still gets the story
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// recordUnsubscribe notes the unsubscribes of a one-click or page POST
// for the edition report; the page's button sends source=page.
func (s *Server) recordUnsubscribe(r *http.Request, token string, before []subscribers.TokenMembership, after []subscribers.TokenMembership, page bool) {
	was := map[int64]string{}
	for _, m := range before {
		was[m.List.ID] = m.Status
	}
	var lists []int64
	for _, m := range after {
		if was[m.List.ID] == subscribers.StatusActive && m.Status == subscribers.StatusUnsubscribed {
			lists = append(lists, m.List.ID)
		}
	}
	if len(lists) == 0 {
		return
	}
	sub, err := s.Subs.ByToken(r.Context(), token)
	if err == nil {
		method := bounces.MethodOneClick
		if page {
			method = bounces.MethodLink
		}
		err = bounces.RecordUnsubscribe(r.Context(), s.Subs.DB, sub.ID, lists, method)
	}
	if err != nil {
		s.Logger.Warn("unsubscribe not recorded for the edition report", "err", err)
	}
}

func isWebhook(path string) bool { return strings.HasPrefix(path, "/webhooks/") }
