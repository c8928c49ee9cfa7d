package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
)

// TestServeSignupOverHTTP runs the sign-up against the real digest serve
// binary and a real SMTP relay in the test: the form, the confirmation
// mail, GET /confirm (changes nothing), POST /confirm (active), the
// consent records; a CMS's JSON sign-up with a push-API token; and a
// list closed by lists update while the daemon runs answers 404.
func TestServeSignupOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	relay := smtptest.Start(t, nil)
	c := newSendingCLI(t)
	c.must("sections", "set", "Economy", "--create")
	c.must("sections", "set", "Sport", "--create")
	cmsToken := strings.TrimSpace(lastLine(c.must("tokens", "create", "cms")))
	d := startDaemon(t, bin, c, relay.URL())
	var base string
	waitUntil(t, "the daemon to serve HTTP", d.logs, func() bool {
		if strings.Contains(d.logs.String(), `"msg":"serving HTTP"`) {
			for _, rec := range d.records() {
				if rec["msg"] == "serving HTTP" {
					base, _ = rec["addr"].(string)
				}
			}
		}
		return base != ""
	})
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	post := func(path, ctype, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	// The form, and its signed render time.
	status, page := get("/subscribe/daily")
	rendered := time.Now()
	stamp := regexp.MustCompile(`name="ts" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || stamp == nil || !strings.Contains(page, `value="Economy"`) {
		t.Fatalf("GET /subscribe/daily: %d\n%s", status, page)
	}
	time.Sleep(time.Until(rendered.Add(2100 * time.Millisecond))) // past the 2 s a person takes at least
	status, page = post("/subscribe/daily", "application/x-www-form-urlencoded",
		url.Values{"email": {"reader@example.com"}, "name": {"Reader <b>X</b>"}, "section": {"Sport"}, "ts": {stamp[1]}}.Encode())
	if status != 200 || !strings.Contains(page, "Check your inbox") {
		t.Fatalf("POST /subscribe/daily: %d\n%s", status, page)
	}

	// The confirmation mail, through the relay.
	waitUntil(t, "the confirmation mail", d.logs, func() bool { return len(relay.Messages()) >= 1 })
	m := relay.Messages()[0]
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	text, html := parts(t, msg)
	link := confirmLinkRE.FindStringSubmatch(text)
	if m.To[0] != "reader@example.com" || link == nil || !strings.Contains(msg.Header.Get("From"), "daily@news.example.com") {
		t.Fatalf("confirmation to %v from %q:\n%s", m.To, msg.Header.Get("From"), text)
	}
	if strings.Contains(text+html, "Reader") || strings.Contains(text+html, "<b>X") {
		t.Error("the confirmation carries the name the person typed")
	}
	token := link[1]
	active := func() int {
		var rows []struct{ Status string }
		if err := json.Unmarshal([]byte(c.must("subscribers", "list", "--json")), &rows); err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if !strings.Contains(c.must("subscribers", "list", "--status", "pending"), "reader@example.com") || active() != 0 {
		t.Fatal("after the form: want a pending sign-up and no membership")
	}

	// GET /confirm: the page with one button, and no change.
	for range 2 {
		if status, page := get("/confirm/" + token); status != 200 || !strings.Contains(page, `<form method="post">`) {
			t.Fatalf("GET /confirm: %d\n%s", status, page)
		}
	}
	if active() != 0 {
		t.Fatal("GET /confirm activated the membership")
	}
	// POST /confirm: active, with the section asked for.
	if status, page := post("/confirm/"+token, "application/x-www-form-urlencoded", ""); status != 200 || !strings.Contains(page, "You are subscribed") {
		t.Fatalf("POST /confirm: %d\n%s", status, page)
	}
	var shown struct {
		Memberships []struct{ List, Status string }
		Consent     []struct {
			Action, Source string
			ConsentVersion string `json:"consent_version"`
		}
	}
	if err := json.Unmarshal([]byte(c.must("subscribers", "show", "reader@example.com", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Memberships) != 1 || shown.Memberships[0].Status != "active" || len(shown.Consent) != 2 ||
		shown.Consent[0].Action+"/"+shown.Consent[0].Source != "signup/form" || shown.Consent[1].Action != "confirmed" || shown.Consent[0].ConsentVersion == "" {
		t.Errorf("after POST /confirm: %+v", shown)
	}
	db, _ := c.openStore()
	var sections string
	db.QueryRow(`SELECT sections FROM memberships`).Scan(&sections)
	if sections != "sport" {
		t.Errorf("sections %q, want sport", sections)
	}
	if status, _ := post("/confirm/"+token, "application/x-www-form-urlencoded", ""); status != http.StatusGone {
		t.Errorf("the used link again: %d, want 410", status)
	}

	// A CMS posting JSON with its token: accepted, one more mail.
	status, page = post("/subscribe/daily", "application/json", `{"email":"cms-reader@example.com"}`, "Authorization", "Bearer "+cmsToken)
	if status != http.StatusAccepted || !strings.Contains(page, "check_inbox") {
		t.Fatalf("JSON with a token: %d %s", status, page)
	}
	waitUntil(t, "the CMS reader's confirmation", d.logs, func() bool { return len(relay.Messages()) >= 2 })

	// Closed while the daemon runs: the form is gone at once.
	c.must("lists", "update", "daily", "--signup", "closed")
	if status, _ := get("/subscribe/daily"); status != http.StatusNotFound {
		t.Errorf("GET /subscribe/daily of a closed list: %d, want 404", status)
	}
	if status, _ := post("/subscribe/daily", "application/x-www-form-urlencoded", "email=late@example.com"); status != http.StatusNotFound {
		t.Errorf("POST /subscribe/daily of a closed list: %d, want 404", status)
	}
	d.stop()
	if n := len(relay.Messages()); n != 2 {
		t.Errorf("the relay got %d messages, want the 2 confirmations", n)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
