// Package suggest finds the near miss of a mistyped name, for a "did you
// mean" hint: a digest.toml key today, and the same rule serves flags,
// subcommands and list names.
package suggest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate nearest to word and true, or "" and false
// when none is near enough to be worth suggesting. Case is ignored. Near
// means an edit distance (Levenshtein, over runes) of at most 2, or a
// third of word's length for long words, or one being a prefix of the
// other ("smtp" for "smtp_url"), which ranks as a distance of 1. Ties go
// to the earlier candidate, so callers control the order.
func Closest(word string, candidates []string) (string, bool) {
	w := strings.ToLower(word)
	if w == "" {
		return "", false
	}
	limit := max(2, utf8.RuneCountInString(w)/3)
	best, bestD := "", limit+1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == w {
			continue // not a miss
		}
		d := distance(w, lc)
		if isPrefix(w, lc) && d > 1 {
			d = 1
		}
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best, best != ""
}

// DidYouMean is `did you mean "x"?` for the closest candidate, or "" when
// none is near.
func DidYouMean(word string, candidates []string) string {
	if c, ok := Closest(word, candidates); ok {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return ""
}

// isPrefix reports whether the shorter of a and b, at least 3 runes long,
// begins the other.
func isPrefix(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return utf8.RuneCountInString(a) >= 3 && strings.HasPrefix(b, a)
}

// distance is the Levenshtein distance between a and b, over runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
