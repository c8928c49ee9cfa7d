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
		{"ab", "ba", 1}, {"daily", "dialy", 1}, {"café", "cafe", 1}, {"flaw", "lawn", 2}, {"日報", "日誌", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
func TestClosest(t *testing.T) {
	keys := []string{"db", "smtp_url", "outbox", "base_url", "http", "log_format", "log_level", "dkim.key_file", "brand.accent"}
	tests := []struct {
		word, want string
	}{
		{"smtp", "smtp_url"},      // a prefix beats http at distance 2
		{"smtp_ur", "smtp_url"},   // one letter short
		{"SMTP_URL2", "smtp_url"}, // case ignored, one extra
		{"outbx", "outbox"},       // one letter missing
		{"base-url", "base_url"},  // dash for underscore
		{"dkim.keyfile", "dkim.key_file"},
		{"log_levle", "log_level"}, // transposition: distance 2
		{"smtp.url", "smtp_url"},   // a table where a key was meant
		{"database_file", ""},      // too far from db
		{"colour", ""},             // nothing near
		{"db", ""},                 // an exact match is not a miss
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := Closest(tt.word, keys)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Closest(%q) = %q, %v; want %q", tt.word, got, ok, tt.want)
		}
	}
	if got := DidYouMean("smtp", keys); got != `did you mean "smtp_url"?` {
		t.Errorf("DidYouMean: %q", got)
	}
	if got := DidYouMean("zzz", keys); got != "" {
		t.Errorf("DidYouMean with no near key: %q", got)
	}
}
