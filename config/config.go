// Package config gathers digest's settings in one struct: defaults, then
// an optional digest.toml, then DIGEST_* environment variables; the CLI
// applies its flags last.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// FileName is the configuration file read from the working directory
// when neither --config nor DIGEST_CONFIG names another.
const FileName = "digest.toml"

// Config is every setting digest reads.
type Config struct {
	// DB is the SQLite file.
	DB string `toml:"db"`
	// SMTPURL is where mail goes (see delivery.ParseSMTPURL); empty
	// writes .eml files to Outbox instead.
	SMTPURL string `toml:"smtp_url"`
	// Outbox is the folder for .eml files when no SMTP URL is set.
	Outbox string `toml:"outbox"`
	// BaseURL is the public address of the web endpoints (unsubscribe,
	// archive) used in links inside messages.
	BaseURL string `toml:"base_url"`
	Brand   Brand  `toml:"brand"`

	// HTTP is where digest serve listens; loopback unless told otherwise.
	HTTP string `toml:"http"`
	// LogFormat is digest serve's log format: text or json.
	LogFormat string `toml:"log_format"`
	// CatchUpGrace is how late digest serve still sends a fire it missed
	// while down, as a Go duration ("3h", "90m"); "0" never catches up.
	CatchUpGrace string `toml:"catch_up_grace"`
	// Sending (see delivery.Sender): connections, messages per second
	// and per hour (0: no cap), permanent failures in a row that mark a
	// subscriber bounced, ledger durability ("full" or "normal").
	Concurrency int     `toml:"concurrency"`
	Rate        float64 `toml:"rate"`
	MaxPerHour  int     `toml:"max_per_hour"`
	BounceLimit int     `toml:"bounce_limit"`
	LedgerSync  string  `toml:"ledger_sync"`
	DKIM        DKIM    `toml:"dkim"`

	// bad is the first environment value that did not parse.
	bad error
}

// DKIM names the signing key (see delivery.DKIMConfig).
type DKIM struct {
	KeyFile  string `toml:"key_file"`
	Selector string `toml:"selector"`
	Domain   string `toml:"domain"`
}

// Brand dresses the theme.
type Brand struct {
	Name   string `toml:"name"`
	Link   string `toml:"link"`
	Accent string `toml:"accent"`
}

// Default is the embedded configuration: a SQLite file and an .eml
// outbox in the working directory, links to the local daemon.
func Default() Config {
	return Config{
		DB:      "digest.db",
		Outbox:  "outbox",
		BaseURL: "http://127.0.0.1:8080",

		HTTP:         "127.0.0.1:8080",
		LogFormat:    "text",
		CatchUpGrace: "3h",
		Concurrency:  4,
		BounceLimit:  3,
		LedgerSync:   "full",
	}
}

// Env lists the environment variables read, with the field each sets.
var Env = map[string]func(*Config, string){
	"DIGEST_DB":       func(c *Config, v string) { c.DB = v },
	"DIGEST_SMTP_URL": func(c *Config, v string) { c.SMTPURL = v },
	"DIGEST_OUTBOX":   func(c *Config, v string) { c.Outbox = v },
	"DIGEST_BASE_URL": func(c *Config, v string) { c.BaseURL = v },

	"DIGEST_HTTP":           func(c *Config, v string) { c.HTTP = v },
	"DIGEST_LOG_FORMAT":     func(c *Config, v string) { c.LogFormat = v },
	"DIGEST_CATCH_UP_GRACE": func(c *Config, v string) { c.CatchUpGrace = v },
	"DIGEST_CONCURRENCY":    func(c *Config, v string) { c.Concurrency = c.atoi("concurrency", v) },
	"DIGEST_RATE":           func(c *Config, v string) { c.Rate = c.atof("rate", v) },
	"DIGEST_MAX_PER_HOUR":   func(c *Config, v string) { c.MaxPerHour = c.atoi("max per hour", v) },
	"DIGEST_BOUNCE_LIMIT":   func(c *Config, v string) { c.BounceLimit = c.atoi("bounce limit", v) },
	"DIGEST_LEDGER_SYNC":    func(c *Config, v string) { c.LedgerSync = v },
	"DIGEST_DKIM_KEY_FILE":  func(c *Config, v string) { c.DKIM.KeyFile = v },
	"DIGEST_DKIM_SELECTOR":  func(c *Config, v string) { c.DKIM.Selector = v },
	"DIGEST_DKIM_DOMAIN":    func(c *Config, v string) { c.DKIM.Domain = v },
}

// atoi parses a whole number for a setting, remembering the first
// failure for Validate (the setters cannot return errors).
func (c *Config) atoi(name, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil && c.bad == nil {
		c.bad = fmt.Errorf("%s %q is not a whole number", name, v)
	}
	return n
}

func (c *Config) atof(name, v string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil && c.bad == nil {
		c.bad = fmt.Errorf("%s %q is not a number", name, v)
	}
	return f
}

// Load builds the configuration from the defaults, the file at path (or
// ./digest.toml when path is empty and that file exists), and the
// environment as getenv reports it.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path == "" {
		path = getenv("DIGEST_CONFIG")
	}
	explicit := path != ""
	if !explicit {
		path = FileName
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		md, err := toml.Decode(string(data), &c)
		if err != nil {
			return c, fmt.Errorf("config %s: %v", path, oneLine(err.Error()))
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("config %s: unknown setting %q: see the README's configuration section", path, und[0].String())
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return c, fmt.Errorf("config: %w", err)
	}
	for name, set := range Env {
		if v := getenv(name); v != "" {
			set(&c, v)
		}
	}
	return c, nil
}

// Validate checks the settings that do not depend on a command.
func (c Config) Validate() error {
	if c.DB == "" {
		return errors.New("no database: set --db, DIGEST_DB or db in digest.toml")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base url %q is not an http(s) URL: set --base-url like https://news.example.com", c.BaseURL)
		}
	}
	if a := c.Brand.Accent; a != "" && !hexColour.MatchString(a) {
		return fmt.Errorf("brand accent %q is not a hex colour like #b3261e", a)
	}
	return c.validateSending()
}

func (c Config) validateSending() error {
	switch {
	case c.bad != nil:
		return c.bad
	case c.Concurrency < 1 || c.Concurrency > 100:
		return fmt.Errorf("concurrency %d is out of range: use 1 to 100 SMTP connections", c.Concurrency)
	case c.Rate < 0:
		return fmt.Errorf("rate %g is negative: use messages per second, or 0 for no limit", c.Rate)
	case c.MaxPerHour < 0:
		return fmt.Errorf("max per hour %d is negative: use messages per hour, or 0 for no limit", c.MaxPerHour)
	case c.BounceLimit < 0:
		return fmt.Errorf("bounce limit %d is negative: use 0 to never mark subscribers bounced", c.BounceLimit)
	case c.LedgerSync != "full" && c.LedgerSync != "normal":
		return fmt.Errorf("ledger sync %q is not full or normal", c.LedgerSync)
	}
	return nil
}

var hexColour = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
