// Package config gathers digest's settings in one struct: defaults, then
// an optional digest.toml, then DIGEST_* environment variables; the CLI
// applies its flags last.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/internal/oneline"
	"github.com/newsroom/digest/internal/suggest"
	"github.com/newsroom/digest/scheduler"
	"github.com/newsroom/digest/subscribers"
)

// FileName is the configuration file read from the working directory
// when neither --config nor DIGEST_CONFIG names another.
const FileName = "digest.toml"

// Config is every setting digest reads. Durations are typed: digest.toml
// takes them as strings ("3h", "90s"), the environment and flags in the
// same form.
type Config struct {
	// DB is the SQLite file.
	DB string `toml:"db"`
	// SMTPURL is where mail goes (see delivery.ParseSMTPURL); empty
	// writes .eml files to Outbox instead.
	SMTPURL string `toml:"smtp_url"`
	// Relays are the [[relay]] tables: several SMTP relays sharing the
	// sending by weight, backups used only while no primary works. They
	// replace smtp_url; --smtp or DIGEST_SMTP_URL replace them.
	Relays []Relay `toml:"relay"`
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
	// LogLevel is the least severe level digest serve logs: debug, info,
	// warn or error.
	LogLevel string `toml:"log_level"`
	// CatchUpGrace is how late digest serve still sends a fire it missed
	// while down (scheduler.Scheduler.Grace); 0 never catches up.
	CatchUpGrace time.Duration `toml:"catch_up_grace"`
	// Reload is how often digest serve rereads the lists and checks for
	// missed fires (at least a second).
	Reload time.Duration `toml:"reload"`
	// LeaseTTL is the length of digest serve's sending lease (at least
	// 3 seconds): a standby takes over this long after the sender died.
	LeaseTTL time.Duration `toml:"lease_ttl"`
	// Sending (see delivery.Sender): connections, messages per second
	// and per hour (0: no cap), ledger durability ("full" or "normal").
	Concurrency int     `toml:"concurrency"`
	Rate        float64 `toml:"rate"`
	MaxPerHour  int     `toml:"max_per_hour"`
	// BounceLimit is how many permanent refusals in a row mark a
	// subscriber bounced; 0 means never. The same meaning as
	// delivery.Sender.BounceLimit, which it is passed to unchanged.
	BounceLimit int    `toml:"bounce_limit"`
	LedgerSync  string `toml:"ledger_sync"`
	DKIM        DKIM   `toml:"dkim"`

	// RecordIP keeps the client IP address and user agent in the consent
	// records of sign-ups, confirmations and preference changes. Off by
	// default: they are personal data, kept only where the newsroom
	// needs them as proof.
	RecordIP bool   `toml:"record_ip"`
	Signup   Signup `toml:"signup"`

	// BounceAddress is where bounces and mailto unsubscribes go for lists
	// without their own (bounce@bounces.example.com: VERP envelope senders
	// bounce+ID-HMAC@..., mailto unsubscribe+TOKEN@...); empty keeps the
	// From address as the envelope sender.
	BounceAddress string `toml:"bounce_address"`
	// BounceSecret, when set, keys the VERP and click HMACs instead of
	// the random key digest stores in the database. Never printed.
	BounceSecret string `toml:"bounce_secret"`
	// BounceIMAPURL is the bounce mailbox digest bounces fetch (and
	// serve, every BounceFetchEvery) reads: imaps://user:pass@host/INBOX.
	BounceIMAPURL    string        `toml:"bounce_imap_url"`
	BounceFetchEvery time.Duration `toml:"bounce_fetch_every"`
	// Webhooks holds the providers' verification secrets.
	Webhooks Webhooks `toml:"webhooks"`

	// bad is the first environment or flag value that did not parse.
	bad error
}

// Relay is one [[relay]] table (see delivery.Relay): url as smtp_url,
// weight (default 1), connections (default concurrency), rate and
// max_per_hour for this relay alone (0: no cap), role "primary" (the
// default) or "backup".
type Relay struct {
	URL         string  `toml:"url"`
	Weight      int     `toml:"weight"`
	Connections int     `toml:"connections"`
	Rate        float64 `toml:"rate"`
	MaxPerHour  int     `toml:"max_per_hour"`
	Role        string  `toml:"role"`
}

// DeliveryRelays turns the [[relay]] tables into the delivery engine's
// relays (Validate has checked them).
func (c Config) DeliveryRelays() ([]delivery.Relay, error) {
	out := make([]delivery.Relay, 0, len(c.Relays))
	for i, r := range c.Relays {
		cfg, err := delivery.ParseSMTPURL(r.URL)
		if err != nil {
			return nil, fmt.Errorf("relay %d: %w", i+1, err)
		}
		out = append(out, delivery.Relay{SMTP: cfg, Weight: r.Weight, Connections: r.Connections, Rate: r.Rate, MaxPerHour: r.MaxPerHour, Role: r.Role})
	}
	return out, nil
}

// SetSMTP sets where mail goes from --smtp (given once or more) or
// DIGEST_SMTP_URL: one URL is smtp_url, several are primary relays of
// equal weight; either replaces digest.toml's relays.
func (c *Config) SetSMTP(urls ...string) {
	c.SMTPURL, c.Relays = "", nil
	if len(urls) == 1 {
		c.SMTPURL = urls[0]
		return
	}
	for _, u := range urls {
		c.Relays = append(c.Relays, Relay{URL: u, Weight: 1, Role: delivery.RolePrimary})
	}
}

// DKIM names the signing key (see delivery.DKIMConfig).
type DKIM struct {
	KeyFile  string `toml:"key_file"`
	Selector string `toml:"selector"`
	Domain   string `toml:"domain"`
}

// Signup configures the public sign-up (see web.SignupSettings).
type Signup struct {
	// BlockedDomains is a comma-separated list of address domains whose
	// sign-ups are accepted silently and sent nothing (subdomains too).
	// A string, not an array, so that Config stays comparable.
	BlockedDomains string `toml:"blocked_domains"`
	// ConsentText replaces the consent wording under the form; %s is the
	// list's title.
	ConsentText string `toml:"consent_text"`
}

// Webhooks are the secrets digest serve checks providers' bounce and
// complaint webhooks with; a provider without its secret is not served.
type Webhooks struct {
	// SES: SNS messages are verified with Amazon's signing certificate;
	// SESTopicARNs, when set (comma-separated), limits the topics
	// accepted.
	SES          bool   `toml:"ses"`
	SESTopicARNs string `toml:"ses_topic_arns"`
	// Postmark: HTTP basic auth configured on the webhook.
	PostmarkUser     string `toml:"postmark_user"`
	PostmarkPassword string `toml:"postmark_password"`
	// Mailgun: the HTTP webhook signing key.
	MailgunSigningKey string `toml:"mailgun_signing_key"`
	// SendGrid: the event webhook's verification key (base64 DER or PEM
	// of the ECDSA public key).
	SendGridPublicKey string `toml:"sendgrid_public_key"`
}

// DefaultBounceFetchEvery is how often digest serve reads the bounce
// mailbox when bounce_imap_url is set.
const DefaultBounceFetchEvery = 5 * time.Minute

// Brand dresses the theme.
type Brand struct {
	Name   string `toml:"name"`
	Link   string `toml:"link"`
	Accent string `toml:"accent"`
}

// DefaultHTTP is where digest serve listens unless told otherwise.
const DefaultHTTP = "127.0.0.1:8080"

// Default is the embedded configuration: a SQLite file and an .eml
// outbox in the working directory, links to the local daemon. The
// tuning defaults are the packages' own constants.
func Default() Config {
	return Config{
		DB:      "digest.db",
		Outbox:  "outbox",
		BaseURL: "http://" + DefaultHTTP,

		HTTP:         DefaultHTTP,
		LogFormat:    "text",
		LogLevel:     "info",
		CatchUpGrace: scheduler.DefaultGrace,
		Reload:       scheduler.DefaultReload,
		LeaseTTL:     scheduler.DefaultLeaseTTL,
		Concurrency:  delivery.DefaultConcurrency,
		BounceLimit:  subscribers.DefaultBounceLimit,
		LedgerSync:   delivery.LedgerSyncFull,

		BounceFetchEvery: DefaultBounceFetchEvery,
	}
}

// Env lists the environment variables read, with the field each sets.
// The CLI sets its flags through the same functions, so a value reads
// the same from either.
var Env = map[string]func(*Config, string){
	"DIGEST_DB":       func(c *Config, v string) { c.DB = v },
	"DIGEST_SMTP_URL": func(c *Config, v string) { c.SetSMTP(v) },
	"DIGEST_OUTBOX":   func(c *Config, v string) { c.Outbox = v },
	"DIGEST_BASE_URL": func(c *Config, v string) { c.BaseURL = v },

	"DIGEST_HTTP":       func(c *Config, v string) { c.HTTP = v },
	"DIGEST_LOG_FORMAT": func(c *Config, v string) { c.LogFormat = v },
	"DIGEST_LOG_LEVEL":  func(c *Config, v string) { c.LogLevel = v },
	"DIGEST_CATCH_UP_GRACE": func(c *Config, v string) {
		c.CatchUpGrace = c.duration("grace", v, "--grace, DIGEST_CATCH_UP_GRACE or catch_up_grace")
	},
	"DIGEST_RELOAD": func(c *Config, v string) { c.Reload = c.duration("reload", v, "--reload, DIGEST_RELOAD or reload") },
	"DIGEST_LEASE_TTL": func(c *Config, v string) {
		c.LeaseTTL = c.duration("lease ttl", v, "--lease-ttl, DIGEST_LEASE_TTL or lease_ttl")
	},
	"DIGEST_CONCURRENCY":   func(c *Config, v string) { c.Concurrency = c.atoi("concurrency", v) },
	"DIGEST_RATE":          func(c *Config, v string) { c.Rate = c.atof("rate", v) },
	"DIGEST_MAX_PER_HOUR":  func(c *Config, v string) { c.MaxPerHour = c.atoi("max per hour", v) },
	"DIGEST_BOUNCE_LIMIT":  func(c *Config, v string) { c.BounceLimit = c.atoi("bounce limit", v) },
	"DIGEST_LEDGER_SYNC":   func(c *Config, v string) { c.LedgerSync = v },
	"DIGEST_DKIM_KEY_FILE": func(c *Config, v string) { c.DKIM.KeyFile = v },
	"DIGEST_DKIM_SELECTOR": func(c *Config, v string) { c.DKIM.Selector = v },
	"DIGEST_DKIM_DOMAIN":   func(c *Config, v string) { c.DKIM.Domain = v },

	"DIGEST_BOUNCE_ADDRESS":  func(c *Config, v string) { c.BounceAddress = v },
	"DIGEST_BOUNCE_SECRET":   func(c *Config, v string) { c.BounceSecret = v },
	"DIGEST_BOUNCE_IMAP_URL": func(c *Config, v string) { c.BounceIMAPURL = v },
	"DIGEST_BOUNCE_FETCH_EVERY": func(c *Config, v string) {
		c.BounceFetchEvery = c.duration("bounce fetch every", v, "DIGEST_BOUNCE_FETCH_EVERY or bounce_fetch_every")
	},
	"DIGEST_WEBHOOK_POSTMARK_USER":       func(c *Config, v string) { c.Webhooks.PostmarkUser = v },
	"DIGEST_WEBHOOK_POSTMARK_PASSWORD":   func(c *Config, v string) { c.Webhooks.PostmarkPassword = v },
	"DIGEST_WEBHOOK_MAILGUN_SIGNING_KEY": func(c *Config, v string) { c.Webhooks.MailgunSigningKey = v },
	"DIGEST_WEBHOOK_SENDGRID_PUBLIC_KEY": func(c *Config, v string) { c.Webhooks.SendGridPublicKey = v },
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

// duration parses a Go duration of 0 or more for a setting; where names
// the flag, variable and key that set it.
func (c *Config) duration(name, v, where string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if (err != nil || d < 0) && c.bad == nil {
		c.bad = fmt.Errorf("%s %q is not a duration like 3h or 90m: set %s", name, v, where)
	}
	return d
}

// Load builds the configuration from the defaults, the file at path (or
// ./digest.toml when path is empty and that file exists), and the
// environment as getenv reports it. An unknown key in the file is an
// error that names the nearest known key.
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
		if err := c.decode(path, string(data)); err != nil {
			return c, err
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

// decode reads digest.toml over c.
func (c *Config) decode(path, data string) error {
	md, err := toml.Decode(data, c)
	if err != nil {
		return fmt.Errorf("config %s: %v", path, oneline.String(err.Error()))
	}
	if und := md.Undecoded(); len(und) > 0 {
		key := und[0].String()
		if hint := suggest.DidYouMean(key, Keys()); hint != "" {
			return fmt.Errorf("config %s: unknown key %q; %s", path, key, hint)
		}
		return fmt.Errorf("config %s: unknown key %q: see the README's configuration section for the keys", path, key)
	}
	// TOML reads a bare number into a duration as nanoseconds: refuse
	// it rather than catch up for 3 ns (a bare 0 is unambiguous).
	for key, d := range map[string]time.Duration{"catch_up_grace": c.CatchUpGrace, "reload": c.Reload, "lease_ttl": c.LeaseTTL, "bounce_fetch_every": c.BounceFetchEvery} {
		if md.Type(key) == "Integer" && d != 0 {
			return fmt.Errorf("config %s: %s is a bare number: give a duration in quotes, like %s = \"3h\" or \"90s\"", path, key, key)
		}
	}
	return nil
}

// Keys lists every digest.toml key, tables as "brand.name", in the order
// of the struct: what an unknown key is compared with.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+tag+".")
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				walk(f.Type.Elem(), prefix+tag+".") // [[relay]] tables
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

// Validate checks every setting, so that a mistake stops the command
// before any work starts: the CLI calls it once, after the flags.
func (c Config) Validate() error {
	if c.bad != nil {
		return c.bad
	}
	if c.DB == "" {
		return errors.New("no database: set --db, DIGEST_DB or db in digest.toml")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base url %q is not an http(s) URL: set --base-url like https://news.example.com", c.BaseURL)
		}
	}
	if l := c.Brand.Link; l != "" {
		u, err := url.Parse(l)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("brand link %q is not an http(s) URL: set [brand] link in digest.toml like https://news.example.com", l)
		}
	}
	if a := c.Brand.Accent; a != "" && !hexColour.MatchString(a) {
		return fmt.Errorf("brand accent %q is not a hex colour like #b3261e", a)
	}
	if c.SMTPURL != "" {
		if _, err := delivery.ParseSMTPURL(c.SMTPURL); err != nil {
			return err // its messages never quote the password
		}
	}
	if err := c.validateRelays(); err != nil {
		return err
	}
	if err := c.validateServe(); err != nil {
		return err
	}
	if err := c.validateFeedback(); err != nil {
		return err
	}
	return c.validateSending()
}

func (c Config) validateServe() error {
	var level slog.Level
	switch {
	case c.HTTP == "":
		return errors.New("no listen address: set --http, DIGEST_HTTP or http like " + DefaultHTTP)
	case !validHostPort(c.HTTP):
		return fmt.Errorf("listen address %q is not HOST:PORT: set --http, DIGEST_HTTP or http like %s", c.HTTP, DefaultHTTP)
	case !strings.EqualFold(c.LogFormat, "text") && !strings.EqualFold(c.LogFormat, "json"):
		return fmt.Errorf("log format %q is not text or json: set --log-format, DIGEST_LOG_FORMAT or log_format", c.LogFormat)
	case level.UnmarshalText([]byte(c.LogLevel)) != nil:
		return fmt.Errorf("log level %q is not one of debug, info, warn, error: set --log-level, DIGEST_LOG_LEVEL or log_level", c.LogLevel)
	case c.CatchUpGrace < 0:
		return fmt.Errorf("grace %s is negative: give a duration like 3h, or 0 to never catch up (--grace, DIGEST_CATCH_UP_GRACE, catch_up_grace)", c.CatchUpGrace)
	case c.Reload < time.Second:
		return fmt.Errorf("--reload must be at least 1s, not %s (DIGEST_RELOAD, reload)", c.Reload)
	case c.LeaseTTL < 3*time.Second:
		return fmt.Errorf("--lease-ttl must be at least 3s, not %s (DIGEST_LEASE_TTL, lease_ttl): it is renewed every third of its length", c.LeaseTTL)
	}
	return nil
}

func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// Level is LogLevel for log/slog (info when it does not parse, which
// Validate refuses).
func (c Config) Level() slog.Level {
	var level slog.Level
	if level.UnmarshalText([]byte(c.LogLevel)) != nil {
		return slog.LevelInfo
	}
	return level
}

func (c Config) validateSending() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 100:
		return fmt.Errorf("concurrency %d is out of range: use 1 to 100 SMTP connections", c.Concurrency)
	case c.Rate < 0:
		return fmt.Errorf("rate %g is negative: use messages per second, or 0 for no limit", c.Rate)
	case c.MaxPerHour < 0:
		return fmt.Errorf("max per hour %d is negative: use messages per hour, or 0 for no limit", c.MaxPerHour)
	case c.BounceLimit < 0:
		return fmt.Errorf("bounce limit %d is negative: use 0 to never mark subscribers bounced", c.BounceLimit)
	case c.LedgerSync != delivery.LedgerSyncFull && c.LedgerSync != delivery.LedgerSyncNormal:
		return fmt.Errorf("ledger sync %q is not %s or %s", c.LedgerSync, delivery.LedgerSyncFull, delivery.LedgerSyncNormal)
	}
	return nil
}

// validateRelays checks the [[relay]] tables. Messages name a relay by
// its number and redacted URL, never its password.
func (c Config) validateRelays() error {
	if len(c.Relays) == 0 {
		return nil
	}
	if c.SMTPURL != "" {
		return errors.New("both smtp_url and [[relay]] tables are set: keep one (a single relay is one [[relay]] table)")
	}
	relays, err := c.DeliveryRelays()
	if err != nil {
		return err
	}
	seen := map[string]int{}
	primaries := 0
	for i, r := range c.Relays {
		name := relays[i].SMTP.String()
		switch {
		case r.Weight < 0:
			return fmt.Errorf("relay %d (%s): weight %d is negative: use 1 or more (default 1)", i+1, name, r.Weight)
		case r.Connections < 0 || r.Connections > 100:
			return fmt.Errorf("relay %d (%s): connections %d is out of range: use 1 to 100, or leave it out for concurrency", i+1, name, r.Connections)
		case r.Rate < 0:
			return fmt.Errorf("relay %d (%s): rate %g is negative: use messages per second, or 0 for no limit", i+1, name, r.Rate)
		case r.MaxPerHour < 0:
			return fmt.Errorf("relay %d (%s): max_per_hour %d is negative: use messages per hour, or 0 for no limit", i+1, name, r.MaxPerHour)
		case r.Role != "" && r.Role != delivery.RolePrimary && r.Role != delivery.RoleBackup:
			return fmt.Errorf("relay %d (%s): role %q is not %q or %q", i+1, name, r.Role, delivery.RolePrimary, delivery.RoleBackup)
		}
		if j, dup := seen[relays[i].Name()]; dup {
			return fmt.Errorf("relay %d (%s) is the same host and port as relay %d: give each relay once, with a weight", i+1, name, j)
		}
		seen[relays[i].Name()] = i + 1
		if r.Role != delivery.RoleBackup {
			primaries++
		}
	}
	if primaries == 0 {
		return errors.New("every [[relay]] is a backup: give at least one role = \"primary\" (the default)")
	}
	return nil
}

var hexColour = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func (c Config) validateFeedback() error {
	if _, err := subscribers.NormalizeBounceAddress(c.BounceAddress); err != nil {
		return fmt.Errorf("%w: set bounce_address or DIGEST_BOUNCE_ADDRESS like bounce@bounces.example.com", err)
	}
	if c.BounceIMAPURL != "" {
		u, err := url.Parse(c.BounceIMAPURL)
		if err != nil || (u.Scheme != "imaps" && u.Scheme != "imap") || u.Host == "" || u.User == nil {
			return errors.New("bounce_imap_url is not like imaps://user:pass@host/INBOX (DIGEST_BOUNCE_IMAP_URL)")
		}
	}
	if c.BounceFetchEvery < 10*time.Second {
		return fmt.Errorf("bounce_fetch_every must be at least 10s, not %s (DIGEST_BOUNCE_FETCH_EVERY)", c.BounceFetchEvery)
	}
	return nil
}
