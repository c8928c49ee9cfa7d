package suggest

import "testing"

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

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"日報", "日誌", 1},
	} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
