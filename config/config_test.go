package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/config"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "digest.toml")
	os.WriteFile(path, []byte("db = \"from-file.db\"\noutbox = \"file-outbox\"\nbase_url = \"https://file.example\"\n[brand]\naccent = \"#123456\"\n"), 0o644)

	c, err := config.Load(path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DB != "from-file.db" || c.Outbox != "file-outbox" || c.Brand.Accent != "#123456" || c.SMTPURL != "" {
		t.Fatalf("file not applied over defaults: %+v", c)
	}
	c, err = config.Load(path, envOf(map[string]string{"DIGEST_DB": "from-env.db", "DIGEST_SMTP_URL": "smtp://h:25"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DB != "from-env.db" || c.SMTPURL != "smtp://h:25" || c.Outbox != "file-outbox" {
		t.Fatalf("environment not applied over the file: %+v", c)
	}
	// DIGEST_CONFIG names the file when no path is given.
	c, err = config.Load("", envOf(map[string]string{"DIGEST_CONFIG": path}))
	if err != nil || c.DB != "from-file.db" {
		t.Fatalf("DIGEST_CONFIG: %+v, %v", c, err)
	}
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(t.TempDir())
	c, err := config.Load("", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, config.Default()) { // [[relay]] makes Config a struct with a slice
		t.Fatalf("got %+v, want defaults", c)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("db = \n"), 0o644)
	unknown := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknown, []byte("smtp = \"x\"\n"), 0o644)
	for name, path := range map[string]string{"syntax": bad, "unknown key": unknown, "missing explicit file": filepath.Join(dir, "nope.toml")} {
		if _, err := config.Load(path, envOf(nil)); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want a one-line error", name, err)
		}
	}
	c := config.Default()
	c.Brand.Accent = "red;background:url(x)"
	if err := c.Validate(); err == nil {
		t.Error("accent that is not a hex colour accepted")
	}
	c = config.Default()
	c.BaseURL = "javascript:alert(1)"
	if err := c.Validate(); err == nil {
		t.Error("non-http base URL accepted")
	}
}

// The serve settings that were flags only have a key and a variable too,
// as typed durations and a level, with the file below the environment.
func TestServeSettingsFromFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.toml")
	os.WriteFile(path, []byte("catch_up_grace = \"90m\"\nreload = \"30s\"\nlease_ttl = \"1m\"\nlog_level = \"debug\"\n"), 0o644)
	c, err := config.Load(path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CatchUpGrace != 90*time.Minute || c.Reload != 30*time.Second || c.LeaseTTL != time.Minute || c.LogLevel != "debug" || c.Level() != slog.LevelDebug {
		t.Fatalf("file: grace %s reload %s lease %s level %q", c.CatchUpGrace, c.Reload, c.LeaseTTL, c.LogLevel)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err = config.Load(path, envOf(map[string]string{
		"DIGEST_CATCH_UP_GRACE": "0", "DIGEST_RELOAD": "2m", "DIGEST_LEASE_TTL": "45s", "DIGEST_LOG_LEVEL": "warn",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CatchUpGrace != 0 || c.Reload != 2*time.Minute || c.LeaseTTL != 45*time.Second || c.Level() != slog.LevelWarn {
		t.Fatalf("environment: grace %s reload %s lease %s level %q", c.CatchUpGrace, c.Reload, c.LeaseTTL, c.LogLevel)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyNamesTheNearMiss(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"smtp = \"smtp://h:25\"\n":       `unknown key "smtp"; did you mean "smtp_url"?`,
		"[dkim]\nkeyfile = \"k.pem\"\n":  `unknown key "dkim.keyfile"; did you mean "dkim.key_file"?`,
		"lease-ttl = \"1m\"\n":           `unknown key "lease-ttl"; did you mean "lease_ttl"?`,
		"colour_scheme = \"dark\"\n":     `unknown key "colour_scheme": see the README`,
		"[brand]\ncolor = \"#123456\"\n": `unknown key "brand.color": see the README`,
	} {
		path := filepath.Join(dir, "digest.toml")
		os.WriteFile(path, []byte(body), 0o644)
		_, err := config.Load(path, envOf(nil))
		if err == nil || !strings.HasSuffix(err.Error(), want) && !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// A bare number is nanoseconds to TOML: refused, not a 3 ns grace period.
func TestBareNumberDurationRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.toml")
	os.WriteFile(path, []byte("catch_up_grace = 3\n"), 0o644)
	if _, err := config.Load(path, envOf(nil)); err == nil || !strings.Contains(err.Error(), `give a duration in quotes, like catch_up_grace = "3h"`) {
		t.Fatalf("got %v", err)
	}
	os.WriteFile(path, []byte("catch_up_grace = 0\n"), 0o644)
	if c, err := config.Load(path, envOf(nil)); err != nil || c.CatchUpGrace != 0 {
		t.Fatalf("a bare 0: grace %s, %v; want 0 (no catch-up)", c.CatchUpGrace, err)
	}
}

// Validate checks every setting, whatever the command, before any work.
func TestValidateChecksEverySetting(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DIGEST_CATCH_UP_GRACE": "soon"}, `grace "soon" is not a duration like 3h or 90m: set --grace, DIGEST_CATCH_UP_GRACE or catch_up_grace`},
		{map[string]string{"DIGEST_CATCH_UP_GRACE": "-1h"}, `grace "-1h" is not a duration`},
		{map[string]string{"DIGEST_RELOAD": "500ms"}, "--reload must be at least 1s"},
		{map[string]string{"DIGEST_LEASE_TTL": "2s"}, "--lease-ttl must be at least 3s"},
		{map[string]string{"DIGEST_LOG_LEVEL": "loud"}, `log level "loud"`},
		{map[string]string{"DIGEST_LOG_FORMAT": "xml"}, `log format "xml"`},
		{map[string]string{"DIGEST_HTTP": "8080"}, "is not HOST:PORT"},
		{map[string]string{"DIGEST_SMTP_URL": "smtp://user:hunter2@"}, "no host"},
		{map[string]string{"DIGEST_CONCURRENCY": "0"}, "concurrency 0 is out of range"},
		{map[string]string{"DIGEST_CONCURRENCY": "many"}, `concurrency "many" is not a whole number`},
		{map[string]string{"DIGEST_BOUNCE_LIMIT": "-1"}, "bounce limit -1 is negative"},
		{map[string]string{"DIGEST_LEDGER_SYNC": "sometimes"}, `ledger sync "sometimes" is not full or normal`},
		{map[string]string{"DIGEST_BASE_URL": "ftp://x"}, "base url"},
	} {
		wd := t.TempDir()
		t.Chdir(wd)
		c, err := config.Load("", envOf(tt.env))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the error shows the password: %v", tt.env, err)
		}
	}
}

// BounceLimit 0 means never, here and in delivery.Sender; the default is
// the subscribers package's limit.
func TestBounceLimitZeroIsAllowed(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := config.Load("", envOf(map[string]string{"DIGEST_BOUNCE_LIMIT": "0"}))
	if err != nil || c.BounceLimit != 0 {
		t.Fatalf("bounce limit %d, %v", c.BounceLimit, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRefusesABrandLinkThatIsNotAURL(t *testing.T) {
	for link, ok := range map[string]bool{
		"https://news.example.com": true,
		"http://news.example.com/": true,
		"news.example.com":         false, // would become a relative link
		"javascript:alert(1)":      false,
	} {
		path := filepath.Join(t.TempDir(), "digest.toml")
		os.WriteFile(path, []byte("[brand]\nlink = \""+link+"\"\n"), 0o644)
		c, err := config.Load(path, envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		if ok && err != nil {
			t.Errorf("%s: %v", link, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "brand link")) {
			t.Errorf("%s: %v, want a brand link error", link, err)
		}
	}
}
