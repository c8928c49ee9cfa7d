// Command fitness measures the digest's fixed editions (default, rtl,
// images) and the same editions in hermes' default theme with Mailpit's
// HTML check, and prints Total supported / partial / unsupported and the
// worst features of each:
//
//	go run ./internal/fitness/cmd/fitness            # starts Mailpit itself
//	go run ./internal/fitness/cmd/fitness --mailpit http://127.0.0.1:8025 --mailpit-smtp 127.0.0.1:1025
//
// It exits 1 when one of digest's editions misses the targets (95 %
// supported, 0.5 % unsupported).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/newsroom/digest/internal/fitness"
)

func main() {
	api := flag.String("mailpit", "", "use the Mailpit at this web address instead of starting one")
	smtp := flag.String("mailpit-smtp", "", "SMTP host:port of the Mailpit given with --mailpit (default: its host, port 1025)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ok, err := run(ctx, *api, *smtp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fitness:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(ctx context.Context, api, smtp string) (bool, error) {
	var mp *fitness.Mailpit
	var err error
	if api != "" {
		mp, err = fitness.Connect(ctx, api, smtp)
	} else {
		bin, ferr := fitness.FindMailpit()
		if ferr != nil {
			return false, ferr
		}
		mp, err = fitness.Start(ctx, bin)
	}
	if err != nil {
		return false, err
	}
	defer mp.Close()
	ok := true
	for _, c := range fitness.Cases() {
		ed, err := fitness.Render(c.Sel)
		if err != nil {
			return false, err
		}
		r, err := mp.Measure(ctx, ed, c.Sel.List)
		if err != nil {
			return false, err
		}
		verdict := "meets the targets"
		if !r.Meets() {
			verdict, ok = "MISSES the targets", false
		}
		fmt.Printf("digest theme, %s edition: %s\n", c.Name, verdict)
		fmt.Print(r)
		def, err := fitness.HermesDefault(c.Sel)
		if err != nil {
			return false, err
		}
		if r, err = mp.Measure(ctx, def, c.Sel.List); err != nil {
			return false, err
		}
		fmt.Printf("hermes default theme, %s edition:\n%s\n", c.Name, r)
	}
	return ok, nil
}
