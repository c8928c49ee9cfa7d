package main

import (
	"strconv"
	"strings"
)

// plural is the count with the noun in the form it takes: "1 story",
// "2 stories", "0 deliveries". The noun is given in the singular; a
// phrase ("temporary failure") has its last word inflected.
func plural[N ~int | ~int64](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10) + " "
	if n == 1 {
		return s + noun
	}
	switch {
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return s + noun[:len(noun)-1] + "ies"
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return s + noun + "es"
	}
	return s + noun + "s"
}

// agree is the verb form that agrees with a count: one for 1 thing,
// many otherwise ("is"/"are", "has"/"have", "was"/"were").
func agree(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
