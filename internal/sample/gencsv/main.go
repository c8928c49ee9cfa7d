// Command gencsv writes a synthetic subscriber CSV to standard output, for
// measuring digest subscribers import (see the README's Performance
// section):
//
//	go run ./internal/sample/gencsv -n 100000 > subscribers.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/newsroom/digest/internal/sample"
)

func main() {
	n := flag.Int("n", 100000, "number of rows")
	flag.Parse()
	if err := sample.SubscribersCSV(os.Stdout, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gencsv:", err)
		os.Exit(1)
	}
}
