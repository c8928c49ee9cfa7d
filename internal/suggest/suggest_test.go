package suggest

import "testing"

func TestNearest(t *testing.T) {
	opts := []string{"list", "lists", "status", "json", "subscribers", "stories", "smtp_url"}
	tests := []struct{ word, want string }{
		{"lsit", "list"},     // swapped letters
		{"lits", "list"},     // swapped at the end
		{"LIST", "list"},     // case ignored
		{"stauts", "status"}, // swap in a longer word
		{"jsno", "json"},     // swap
		{"subscriber", "subscribers"},
		{"stores", "stories"},  // one letter off
		{"sub", "subscribers"}, // a prefix
		{"smtp", "smtp_url"},   // a prefix of a key
		{"frobnicate", ""},     // nothing close
		{"x", ""},              // one letter is no prefix
		{"", ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.word, opts); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestNearestPrefersEarlierOnTies(t *testing.T) {
	if got := Nearest("lis", []string{"list", "lists"}); got != "list" {
		t.Errorf("got %q, want the first of two equally close options", got)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"ab", "ba", 1}, {"daily", "dialy", 1}, {"café", "cafe", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
