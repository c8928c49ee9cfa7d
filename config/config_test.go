package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if c != config.Default() {
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
