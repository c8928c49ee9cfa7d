package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/newsroom/digest/config"
	"github.com/newsroom/digest/delivery"
)

const relaysTOML = `
[[relay]]
url = "smtp://mx1.example.com:25?tls=none"
weight = 3
connections = 8
[[relay]]
url = "smtp://mx2.example.com:25?tls=none"
rate = 50
max_per_hour = 100000
[[relay]]
url = "smtps://apikey:s3cret@email-smtp.example.com:465"
role = "backup"
`

func TestRelayTablesBecomeAPool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digest.toml")
	os.WriteFile(path, []byte(relaysTOML), 0o644)
	c, err := config.Load(path, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	relays, err := c.DeliveryRelays()
	if err != nil || len(relays) != 3 {
		t.Fatalf("relays %+v, %v", relays, err)
	}
	if r := relays[0]; r.Weight != 3 || r.Connections != 8 || r.SMTP.Host != "mx1.example.com" {
		t.Errorf("first relay: %+v", r)
	}
	if r := relays[1]; r.Rate != 50 || r.MaxPerHour != 100000 {
		t.Errorf("second relay: %+v", r)
	}
	if r := relays[2]; r.Role != delivery.RoleBackup || r.SMTP.Password != "s3cret" {
		t.Errorf("backup: %+v", r)
	}
	p, err := delivery.NewPool(relays)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "(backup)") || !strings.Contains(s, "(weight 3)") {
		t.Errorf("pool shows %q; want weights, the backup, no password", s)
	}
	// DIGEST_SMTP_URL (like --smtp) replaces the file's relays.
	c, err = config.Load(path, envOf(map[string]string{"DIGEST_SMTP_URL": "smtp://h:25"}))
	if err != nil || c.SMTPURL != "smtp://h:25" || len(c.Relays) != 0 {
		t.Fatalf("env over relays: %+v, %v", c, err)
	}
	// Several --smtp URLs are primaries of equal weight.
	c.SetSMTP("smtp://a:25", "smtp://b:25")
	if c.SMTPURL != "" || len(c.Relays) != 2 || c.Relays[1].Weight != 1 || c.Relays[1].Role != delivery.RolePrimary {
		t.Fatalf("two --smtp: %+v", c)
	}
}

func TestRelayTablesAreValidated(t *testing.T) {
	for _, tt := range []struct {
		toml, want string
	}{
		{"[[relay]]\nurl = \"smtp://u:hunter2@\"\n", "relay 1: "},
		{"[[relay]]\nurl = \"smtp://a:25\"\nweight = -1\n", "relay 1 (smtp://a:25): weight -1 is negative"},
		{"[[relay]]\nurl = \"smtp://a:25\"\nconnections = 500\n", "connections 500 is out of range"},
		{"[[relay]]\nurl = \"smtp://u:hunter2@a:25\"\nrole = \"spare\"\n", `relay 1 (smtp://u:***@a:25): role "spare" is not "primary" or "backup"`},
		{"[[relay]]\nurl = \"smtp://a:25\"\nrate = -2\n", "rate -2 is negative"},
		{"[[relay]]\nurl = \"smtp://a:25\"\nmax_per_hour = -2\n", "max_per_hour -2 is negative"},
		{"[[relay]]\nurl = \"smtp://a:25\"\nrole = \"backup\"\n", "every [[relay]] is a backup"},
		{"[[relay]]\nurl = \"smtp://a:25\"\n[[relay]]\nurl = \"smtp://u:hunter2@a:25\"\n", "relay 2 (smtp://u:***@a:25) is the same host and port as relay 1"},
		{"smtp_url = \"smtp://b:25\"\n[[relay]]\nurl = \"smtp://a:25\"\n", "both smtp_url and [[relay]] tables are set"},
		{"[[relay]]\nurl = \"smtp://a:25\"\nwieght = 2\n", `unknown key "relay.wieght"; did you mean "relay.weight"?`},
	} {
		path := filepath.Join(t.TempDir(), "digest.toml")
		os.WriteFile(path, []byte(tt.toml), 0o644)
		c, err := config.Load(path, envOf(nil))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.toml, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", tt.toml, err)
		}
	}
}
