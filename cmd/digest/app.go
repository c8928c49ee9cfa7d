package main

import (
	"context"
	"fmt"
	"io"
	"os"
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
	// readOnly is set for a command that only reads: the store is then
	// opened with store.OpenReadOnly, which creates and writes nothing;
	// live keeps such a reader current (the preview server).
	readOnly, live bool
}

// readOnlyCommands only read the store. They refuse a database that does
// not exist instead of creating an empty one, and work on a database
// that cannot be written. Completion and send --test read only too.
var readOnlyCommands = map[string]bool{
	"digest stories list":       true,
	"digest sections list":      true,
	"digest lists list":         true,
	"digest lists show":         true,
	"digest lists form":         true,
	"digest subscribers show":   true,
	"digest subscribers list":   true,
	"digest subscribers count":  true,
	"digest subscribers export": true,
	"digest preview":            true,
	"digest deliveries":         true,
	"digest feeds list":         true,
	"digest suppressions list":  true,
	"digest editions report":    true,
	"digest tokens list":        true,
	"digest editions list":      true,
	"digest editions show":      true,
}

// Run executes the CLI with args and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	app := &App{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	root := app.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if app.db != nil {
		app.db.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, errorLine(cmd, err))
	}
	return exitCode(err)
}

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "digest",
		Short:         "Build and send a newsroom's daily email digest",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.readOnly = readOnlyCommands[cmd.CommandPath()]
			return a.loadConfig(cmd.Flags())
		},
	}
	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate("digest {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (default ./digest.toml if present; env DIGEST_CONFIG)")
	pf.String("db", "", "SQLite database file (default ./digest.db; env DIGEST_DB)")
	pf.String("base-url", "", "public base URL of the web endpoints, for links in messages (env DIGEST_BASE_URL)")
	root.AddCommand(a.storiesCommand(), a.subscribersCommand(), a.listsCommand(), a.sendCommand(), a.demoCommand())
	root.AddCommand(a.sectionsCommand(), a.previewCommand(), a.serveCommand(), a.deliveriesCommand())
	editions := a.editionsCommand()
	editions.AddCommand(a.reportCommand())
	root.AddCommand(a.bouncesCommand(), a.suppressionsCommand(), editions)
	root.AddCommand(a.feedsCommand(), a.tokensCommand())
	// The streams first: the completion command takes its writer when
	// it is made.
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	checkArgs(root)
	a.registerCompletions(root)
	return root
}

// flagSettings maps flags to the configuration fields they override; a
// flag wins only when it was given. Flags parse through the same setters
// as the DIGEST_* variables, so a value reads the same from either, and
// one Validate checks the result before any command runs.
var flagSettings = map[string]func(*config.Config, string){
	"db":       func(c *config.Config, v string) { c.DB = v },
	"base-url": func(c *config.Config, v string) { c.BaseURL = v },
	"smtp":     func(c *config.Config, v string) { c.SetSMTP(v) },
	"outbox":   func(c *config.Config, v string) { c.Outbox = v },

	"http":         config.Env["DIGEST_HTTP"],
	"log-format":   config.Env["DIGEST_LOG_FORMAT"],
	"log-level":    config.Env["DIGEST_LOG_LEVEL"],
	"grace":        config.Env["DIGEST_CATCH_UP_GRACE"],
	"reload":       config.Env["DIGEST_RELOAD"],
	"lease-ttl":    config.Env["DIGEST_LEASE_TTL"],
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
			if sv, ok := f.Value.(pflag.SliceValue); ok && name == "smtp" {
				cfg.SetSMTP(sv.GetSlice()...) // --smtp given more than once: relays of equal weight
				continue
			}
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
	open := store.Open
	if a.readOnly {
		open = func(ctx context.Context, path string) (*store.DB, error) {
			return store.OpenReadOnly(ctx, path, a.live)
		}
	}
	db, err := open(a.ctx, a.cfg.DB)
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
