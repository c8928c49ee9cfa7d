// Package suggest finds the near miss for a mistyped word (a flag, a
// subcommand, a list name), so an error can say "did you mean ...?".
package suggest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Nearest returns the option closest to word, or "" when none is close
// enough to be a likely typo. Case is ignored. An option that word is a
// prefix of counts as close (a name cut short); otherwise the edit
// distance (insertions, deletions, substitutions and swaps of adjacent
// letters) must be at most a third of the word's length, and at least 1
// is always allowed. Ties go to the earlier option, so callers control
// the order.
func Nearest(word string, options []string) string {
	w := strings.ToLower(word)
	if w == "" {
		return ""
	}
	limit := max(1, utf8.RuneCountInString(w)/3)
	best, bestD := "", limit+1
	for _, o := range options {
		lo := strings.ToLower(o)
		if lo == w {
			return o
		}
		d := distance(w, lo)
		if strings.HasPrefix(lo, w) && utf8.RuneCountInString(w) >= 2 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = o, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b,
// counted in runes.
func distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	// Three rows: two back (for swaps), one back, and the current one.
	prev2 := make([]int, len(y)+1)
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}

// Closest is Nearest for a word known not to be one of candidates (a
// digest.toml key that was refused): an exact match is no miss, so it is
// skipped, and ok tells whether anything was near.
func Closest(word string, candidates []string) (string, bool) {
	others := make([]string, 0, len(candidates))
	for _, c := range candidates {
		if !strings.EqualFold(c, word) {
			others = append(others, c)
		}
	}
	near := Nearest(word, others)
	return near, near != ""
}

// DidYouMean is `did you mean "x"?` for the closest candidate, or "" when
// none is near.
func DidYouMean(word string, candidates []string) string {
	if c, ok := Closest(word, candidates); ok {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return ""
}
