// Package sample makes synthetic subscriber data for benchmarks and for
// the documented performance measurement: realistic rows, no real people.
package sample

import (
	"bufio"
	"fmt"
	"io"
)

var (
	first  = []string{"Ada", "Grace", "Alan", "Zoë", "Jean-Luc", "Mei", "Olumide", "Ingrid", "Rafael", "Aisha"}
	last   = []string{"Lovelace", "Hopper", "Turing", "Ørsted", "Picard", "Wang", "Adeyemi", "Bergman", "Núñez", "Khan"}
	cities = []string{"London", "Paris", "Lagos", "São Paulo", "Zürich", "Tokyo", "Montréal", "Cairo"}
	plans  = []string{"free", "pro", "team"}
)

// SubscribersCSV writes a header and n rows of distinct subscribers with
// a name and two attribute columns (city, plan), as an admin's export
// from another tool would look.
func SubscribersCSV(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "email,name,city,plan")
	for i := 0; i < n; i++ {
		f, l := first[i%len(first)], last[(i/len(first))%len(last)]
		fmt.Fprintf(bw, "reader%07d@example%d.com,\"%s %s\",%s,%s\n", i, i%97, f, l, cities[i%len(cities)], plans[i%len(plans)])
	}
	return bw.Flush()
}
