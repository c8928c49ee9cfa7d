package fitness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

// MailpitVersion is the Mailpit whose HTML check the targets and the
// README's figures refer to.
const MailpitVersion = "v1.33.1"

// InstallHint says how to get Mailpit.
const InstallHint = "go install github.com/axllent/mailpit@" + MailpitVersion

// ErrNoMailpit reports that no Mailpit binary was found.
var ErrNoMailpit = errors.New("mailpit not found (" + InstallHint + ", or set DIGEST_MAILPIT to the binary)")

// FindMailpit returns the Mailpit binary: $DIGEST_MAILPIT, else mailpit
// on PATH, else $(go env GOPATH)/bin/mailpit, where go install puts it.
func FindMailpit() (string, error) {
	if p := os.Getenv("DIGEST_MAILPIT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("DIGEST_MAILPIT=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoMailpit
}

// Mailpit is a Mailpit server: one this package started (Start), or one
// already running (Connect).
type Mailpit struct {
	// API is the base URL of the web API, e.g. http://127.0.0.1:8025.
	API string
	// SMTP is the host:port messages are delivered to.
	SMTP   string
	cmd    *exec.Cmd
	exited chan error
	dir    string
	http   *http.Client
}

// Start runs the Mailpit binary on two loopback ports chosen now, with
// its database in a fresh temporary folder, and waits until its API
// answers. Close stops it.
func Start(ctx context.Context, bin string) (*Mailpit, error) {
	dir, err := os.MkdirTemp("", "digest-mailpit-")
	if err != nil {
		return nil, err
	}
	smtpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--quiet")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	m := &Mailpit{API: "http://" + httpAddr, SMTP: smtpAddr, cmd: cmd, exited: exited, dir: dir, http: &http.Client{Timeout: 30 * time.Second}}
	// Readiness: poll the API until it answers, the process exits or the
	// caller gives up.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if err := m.ping(ctx); err == nil {
			return m, nil
		}
		select {
		case err := <-exited:
			exited <- err
			m.Close()
			return nil, fmt.Errorf("mailpit exited (%v): %s", err, strings.TrimSpace(logs.String()))
		case <-ctx.Done():
			m.Close()
			return nil, ctx.Err()
		case <-deadline:
			m.Close()
			return nil, fmt.Errorf("mailpit did not answer on %s within 30s: %s", m.API, strings.TrimSpace(logs.String()))
		case <-tick.C:
		}
	}
}

// Connect uses a Mailpit already running: api is its web address, smtp
// its SMTP host:port.
func Connect(ctx context.Context, api, smtp string) (*Mailpit, error) {
	u, err := url.Parse(api)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("mailpit URL %q: give its web address, e.g. http://127.0.0.1:8025", api)
	}
	if smtp == "" {
		smtp = u.Hostname() + ":1025"
	}
	m := &Mailpit{API: strings.TrimRight(api, "/"), SMTP: smtp, http: &http.Client{Timeout: 30 * time.Second}}
	if err := m.ping(ctx); err != nil {
		return nil, fmt.Errorf("mailpit at %s does not answer: %w", api, err)
	}
	return m, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (m *Mailpit) ping(ctx context.Context) error {
	var info struct{ Version string }
	return m.get(ctx, "/api/v1/info", &info)
}

// Close stops a Mailpit that Start started and removes its database.
func (m *Mailpit) Close() error {
	if m.cmd == nil {
		return nil
	}
	m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
	return os.RemoveAll(m.dir)
}

func (m *Mailpit) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.API+path, nil)
	if err != nil {
		return err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// Deliver sends ed to Mailpit over SMTP as delivery builds it for
// Reader, and returns Mailpit's ID of the stored message.
func (m *Mailpit) Deliver(ctx context.Context, ed digest.Edition, list subscribers.List) (string, error) {
	if list.From == "" {
		list.From = "Digest <news@example.com>"
	}
	msg, err := delivery.BuildMessage(ed, delivery.Envelope{List: list, Sub: Reader(), BaseURL: BaseURL})
	if err != nil {
		return "", err
	}
	ids := msg.GetGenHeader(mail.HeaderMessageID)
	if len(ids) == 0 {
		return "", errors.New("message has no Message-ID")
	}
	msgID := strings.Trim(ids[0], "<>")
	cfg, err := delivery.ParseSMTPURL("smtp://" + m.SMTP + "?tls=none")
	if err != nil {
		return "", err
	}
	tr, err := delivery.NewSMTP(cfg)
	if err != nil {
		return "", err
	}
	defer tr.Close()
	if err := tr.Send(ctx, msgID, msg); err != nil {
		return "", fmt.Errorf("deliver to mailpit: %w", err)
	}
	// Mailpit stores a message as soon as it accepts it; look it up by
	// its Message-ID.
	var found struct {
		Messages []struct{ ID string }
	}
	q := url.Values{"query": {`message-id:"` + msgID + `"`}}
	if err := m.get(ctx, "/api/v1/search?"+q.Encode(), &found); err != nil {
		return "", err
	}
	if len(found.Messages) != 1 {
		return "", fmt.Errorf("mailpit holds %d messages with Message-ID %s", len(found.Messages), msgID)
	}
	return found.Messages[0].ID, nil
}

// Report is Mailpit's HTML check of one message (the fields digest
// reads of /api/v1/message/{ID}/html-check).
type Report struct {
	Total    Total
	Warnings []Warning
}

// Total is the overall result, in percent: Supported = 100 - Partial -
// Unsupported, where Partial and Unsupported are each the largest, over
// the features the message uses, of the feature's share of partial (or
// no) support among caniemail's client versions times the share of the
// message's elements that use it.
type Total struct {
	Nodes, Tests                    int
	Supported, Partial, Unsupported float64
}

// Warning is one feature the message uses.
type Warning struct {
	Slug, Title string
	Score       struct {
		Found                           int
		Supported, Partial, Unsupported float64
	}
}

// Cost is what the feature takes off the total: its partial and
// unsupported shares weighted by its share of the message's elements.
func (w Warning) Cost(nodes int) (partial, unsupported float64) {
	if nodes == 0 {
		return 0, 0
	}
	f := float64(w.Score.Found) / float64(nodes)
	return w.Score.Partial * f, w.Score.Unsupported * f
}

// Check reads Mailpit's HTML check of the stored message id.
func (m *Mailpit) Check(ctx context.Context, id string) (Report, error) {
	var r Report
	err := m.get(ctx, "/api/v1/message/"+url.PathEscape(id)+"/html-check", &r)
	return r, err
}

// Measure delivers ed and checks it.
func (m *Mailpit) Measure(ctx context.Context, ed digest.Edition, list subscribers.List) (Report, error) {
	id, err := m.Deliver(ctx, ed, list)
	if err != nil {
		return Report{}, err
	}
	return m.Check(ctx, id)
}

// Worst returns the n features costing most, as Mailpit sorts them.
func (r Report) Worst(n int) []Warning {
	ws := append([]Warning(nil), r.Warnings...)
	sort.SliceStable(ws, func(i, j int) bool {
		pi, ui := ws[i].Cost(r.Total.Nodes)
		pj, uj := ws[j].Cost(r.Total.Nodes)
		return pi+ui > pj+uj
	})
	if len(ws) > n {
		ws = ws[:n]
	}
	return ws
}

// Summary is the one-line figure: supported, partial, unsupported.
func (r Report) Summary() string {
	return fmt.Sprintf("%.1f %% supported, %.2f %% partial, %.2f %% unsupported (%d elements)",
		r.Total.Supported, r.Total.Partial, r.Total.Unsupported, r.Total.Nodes)
}

// String prints the summary and the worst features.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	for _, w := range r.Worst(8) {
		p, u := w.Cost(r.Total.Nodes)
		fmt.Fprintf(&b, "  %-28s used %3d×  costs %.2f partial, %.2f unsupported (clients: %.0f%% partial, %.0f%% no)\n",
			w.Slug, w.Score.Found, p, u, w.Score.Partial, w.Score.Unsupported)
	}
	return b.String()
}

// Meets reports whether r reaches the targets: at least MinSupported
// and at most MaxUnsupported.
func (r Report) Meets() bool {
	return r.Total.Supported >= MinSupported && r.Total.Unsupported <= MaxUnsupported
}

// The targets of issue 12, on Mailpit's figures.
const (
	MinSupported   = 95.0
	MaxUnsupported = 0.5
)

// Message is ed as delivery builds it for Reader, in RFC 5322 form (for
// SpamAssassin, or to look at).
func Message(ed digest.Edition, list subscribers.List) ([]byte, error) {
	if list.From == "" {
		list.From = "Digest <news@example.com>"
	}
	msg, err := delivery.BuildMessage(ed, delivery.Envelope{List: list, Sub: Reader(), BaseURL: BaseURL})
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if _, err := msg.WriteTo(&b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
