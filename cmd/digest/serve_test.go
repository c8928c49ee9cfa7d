package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/smtptest"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
)

func TestServeRefusesATakenPort(t *testing.T) {
	taken := storetest.HoldPort(t)
	c := newCLI(t)
	_, errs, code := c.run("serve", "--http", taken)
	if code != 1 || !strings.Contains(errs, taken) || !strings.Contains(errs, "already in use") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("the error is not one line: %q", errs)
	}
}

func TestServeBadSettings(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--log-format", "xml"}, "log format \"xml\" is not text or json"},
		{[]string{"serve", "--grace", "soon"}, "grace \"soon\" is not a duration"},
		{[]string{"serve", "--grace", "-1h"}, "is not a duration"},
		{[]string{"serve", "--log-level", "loud"}, "log level"},
		{[]string{"serve", "--smtp", "http://mail.example.com"}, "scheme"},
		{[]string{"serve", "--reload", "1ms"}, "--reload must be at least 1s"},
		{[]string{"serve", "--reload", "often"}, `reload "often" is not a duration`},
		{[]string{"serve", "--lease-ttl", "1s"}, "--lease-ttl must be at least 3s"},
		{[]string{"serve", "--http", "localhost"}, "is not HOST:PORT"},
	}
	for _, tt := range tests {
		_, errs, code := c.run(tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	// The same settings from the environment, checked before any work:
	// serve's, and the sending ones that every command shares.
	for env, want := range map[string]string{
		"DIGEST_LOG_LEVEL": "log level",
		"DIGEST_RELOAD":    `reload "soon" is not a duration`,
		"DIGEST_LEASE_TTL": `lease ttl "soon" is not a duration`,
		"DIGEST_SMTP_URL":  "scheme",
	} {
		c.env[env] = "soon"
		if env == "DIGEST_SMTP_URL" {
			c.env[env] = "http://mail.example.com"
		}
		_, errs, code := c.run("serve")
		delete(c.env, env)
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", env, code, errs, want)
		}
	}
}

// lockedBuffer is an io.Writer for a subprocess's output that a test can
// read while the process runs.
type lockedBuffer = storetest.Buffer

// buildDigest is the real binary for subprocess tests, built once.
func buildDigest(t *testing.T) string { return storetest.Binary(t) }

// daemon is a running `digest serve` subprocess.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *lockedBuffer
}

func startDaemon(t *testing.T, bin string, c *cli, smtpURL string) *daemon {
	t.Helper()
	d := &daemon{t: t, logs: &lockedBuffer{}}
	d.cmd = exec.Command(bin, "serve", "--http", "127.0.0.1:0", "--log-format", "json")
	d.cmd.Dir = c.dir
	d.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir,
		"DIGEST_DB=" + c.env["DIGEST_DB"], "DIGEST_BASE_URL=" + c.env["DIGEST_BASE_URL"], "DIGEST_SMTP_URL=" + smtpURL}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	return d
}

// stop sends SIGTERM and requires exit status 0.
func (d *daemon) stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		d.t.Fatalf("digest serve after SIGTERM: %v\n%s", err, d.logs)
	}
}

// records parses the JSON log lines; every line must be one.
func (d *daemon) records() []map[string]any {
	d.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			d.t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, rec)
	}
	return out
}

func waitUntil(t *testing.T, what string, logs fmt.Stringer, cond func() bool) {
	t.Helper()
	storetest.WaitUntil(t, what, cond, logs.String)
}

// SIGTERM to the real binary in the middle of a scheduled delivery: the
// process exits 0, every message the server accepted is in the ledger,
// and the next start finishes the list without sending anyone a second
// copy (counted on the server).
func TestServeSIGTERMDuringDeliveryLosesNothingAndResendsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDigest(t)
	srv := smtptest.Start(t, func(s *smtptest.Server) { s.Delay = 100 * time.Millisecond })
	c := newSendingCLI(t)
	const readers = 20
	for i := range readers {
		c.must("subscribers", "add", fmt.Sprintf("reader%02d@example.com", i))
	}
	c.must("stories", "import", c.writeFile("s.json", storiesJSON(time.Now())))
	// A schedule that fired a minute ago, so the daemon catches it up at
	// start; the zone keeps that minute away from a local midnight.
	zone := "UTC"
	if h := time.Now().UTC().Hour(); h == 0 || h == 23 {
		zone = "Etc/GMT-6"
	}
	loc, _ := time.LoadLocation(zone)
	fire := time.Now().In(loc).Add(-time.Minute)
	db, err := store.Open(context.Background(), c.env["DIGEST_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE lists SET schedule = ?, timezone = ? WHERE name = 'daily'`,
		fmt.Sprintf("%d %d * * *", fire.Minute(), fire.Hour()), zone); err != nil {
		t.Fatal(err)
	}
	sentInLedger := func() int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE status = 'sent'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	d := startDaemon(t, bin, c, srv.URL())
	waitUntil(t, "the catch-up delivery to start", d.logs, func() bool { return len(srv.Messages()) >= 3 })
	// The real binary answers HTTP meanwhile, and says it is the sender.
	var addr string
	for _, rec := range d.records() {
		if rec["msg"] == "serving HTTP" {
			addr, _ = rec["addr"].(string)
		}
	}
	resp, err := http.Get(addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz of the daemon at %q: %v", addr, err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(health), `"sending":true`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, health)
	}
	d.stop()
	accepted := len(srv.Messages())
	if accepted >= readers {
		t.Fatalf("the delivery finished before SIGTERM (%d messages); the test proves nothing", accepted)
	}
	if n := sentInLedger(); n != accepted {
		t.Fatalf("after SIGTERM the ledger has %d sent, the server accepted %d", n, accepted)
	}
	interrupted := false
	for _, rec := range d.records() {
		if strings.HasPrefix(fmt.Sprint(rec["msg"]), "delivery interrupted") {
			interrupted = true
		}
	}
	if !interrupted {
		t.Errorf("no log line says the delivery was interrupted:\n%s", d.logs)
	}

	d2 := startDaemon(t, bin, c, srv.URL())
	waitUntil(t, "the resumed delivery to finish", d2.logs, func() bool {
		var outcome string
		db.QueryRow(`SELECT outcome FROM schedule_runs`).Scan(&outcome)
		return outcome == "sent"
	})
	d2.stop()
	per := srv.PerRecipient()
	if len(per) != readers || len(srv.Messages()) != readers {
		t.Fatalf("%d recipients, %d messages; want %d each", len(per), len(srv.Messages()), readers)
	}
	for to, n := range per {
		if n != 1 {
			t.Errorf("%s got %d copies", to, n)
		}
	}
	if n := sentInLedger(); n != readers {
		t.Errorf("ledger has %d sent, want %d", n, readers)
	}
}
