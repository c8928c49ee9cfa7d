package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/newsroom/digest/config"
	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
	"github.com/newsroom/digest/subscribers"
	"github.com/newsroom/digest/templates"
)

// Exit codes: scripts rely on them.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// App is one invocation of the CLI: its configuration, its streams and the
// store it opens on demand. Tests build it through Run.
type App struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time

	configPath string
	cfg        config.Config
	db         *store.DB
}

// Run executes the CLI with args and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	app := &App{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if app.db != nil {
		app.db.Close()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "digest: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(stderr, "Run 'digest --help' for usage.")
		return exitUsage
	}
	return exitRuntime
}

// isCobraUsage recognises the argument errors cobra makes itself.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "digest",
		Short:         "Build and send a newsroom's daily email digest",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.loadConfig(cmd.Flags())
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (default ./digest.toml if present; env DIGEST_CONFIG)")
	pf.String("db", "", "SQLite database file (default ./digest.db; env DIGEST_DB)")
	pf.String("base-url", "", "public base URL of the web endpoints, for links in messages (env DIGEST_BASE_URL)")
	root.AddCommand(a.storiesCommand(), a.subscribersCommand(), a.listsCommand(), a.sendCommand(), a.demoCommand())
	root.AddCommand(a.sectionsCommand(), a.previewCommand(), a.serveCommand(), a.deliveriesCommand())
	root.AddCommand(a.editionsCommand())
	return root
}

// flagSettings maps flags to the configuration fields they override; a
// flag wins only when it was given.
var flagSettings = map[string]func(*config.Config, string){
	"db":       func(c *config.Config, v string) { c.DB = v },
	"base-url": func(c *config.Config, v string) { c.BaseURL = v },
	"smtp":     func(c *config.Config, v string) { c.SMTPURL = v },
	"outbox":   func(c *config.Config, v string) { c.Outbox = v },

	"http":         func(c *config.Config, v string) { c.HTTP = v },
	"log-format":   func(c *config.Config, v string) { c.LogFormat = v },
	"grace":        func(c *config.Config, v string) { c.CatchUpGrace = v },
	"concurrency":  config.Env["DIGEST_CONCURRENCY"],
	"rate":         config.Env["DIGEST_RATE"],
	"max-per-hour": config.Env["DIGEST_MAX_PER_HOUR"],
}

func (a *App) loadConfig(flags *pflag.FlagSet) error {
	cfg, err := config.Load(a.configPath, a.getenv)
	if err != nil {
		return err
	}
	for name, set := range flagSettings {
		if f := flags.Lookup(name); f != nil && f.Changed {
			set(&cfg, f.Value.String())
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	a.cfg = cfg
	return nil
}

// store opens the database once per invocation.
func (a *App) store() (*store.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	db, err := store.Open(a.ctx, a.cfg.DB)
	if err != nil {
		return nil, err
	}
	a.db = db
	return db, nil
}

func (a *App) stories() (*stories.Store, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &stories.Store{DB: db, Now: a.now}, nil
}

func (a *App) subscribers() (*subscribers.Store, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &subscribers.Store{DB: db, Now: a.now}, nil
}

func (a *App) editions() (*digest.Editions, error) {
	db, err := a.store()
	if err != nil {
		return nil, err
	}
	return &digest.Editions{DB: db, Now: a.now}, nil
}

func (a *App) composer() digest.Composer {
	b := templates.DefaultBrand
	if a.cfg.Brand.Name != "" {
		b.Name = a.cfg.Brand.Name
	}
	if a.cfg.Brand.Link != "" {
		b.Link = a.cfg.Brand.Link
	}
	if a.cfg.Brand.Accent != "" {
		b.Accent = a.cfg.Brand.Accent
	}
	return digest.Composer{BaseURL: a.cfg.BaseURL, Brand: b}
}

func (a *App) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }

// openInput opens a file named on the command line, or standard input for
// "-"; the returned function closes it.
func (a *App) openInput(name string) (io.Reader, func(), error) {
	if name == "-" {
		return a.stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("import: %w", err)
	}
	return f, func() { f.Close() }, nil
}
