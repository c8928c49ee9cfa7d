package feeds

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCheckErrorsAreErrInvalid: the CLI tells a bad setting (exit 2) from
// a failing store (exit 1) by errors.Is(err, ErrInvalid), so every
// refusal of Check must match it and keep its own message.
func TestCheckErrorsAreErrInvalid(t *testing.T) {
	tests := []struct {
		feed Feed
		want string
	}{
		{Feed{URL: "ftp://x.example/feed"}, "give an http:// or https:// URL"},
		{Feed{URL: "https://user:pw@x.example/feed"}, "carries a user name or password"},
		{Feed{URL: "https://x.example/feed", Kind: "atom"}, `feed type "atom" is not rss or sitemap`},
		{Feed{URL: "https://x.example/feed", Every: time.Second}, "--every 1s is outside"},
	}
	for _, tt := range tests {
		err := tt.feed.Check()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), ErrInvalid.Error()) {
			t.Errorf("Check(%+v) = %v; want ErrInvalid with %q", tt.feed, err, tt.want)
		}
	}
	ok := Feed{URL: "https://x.example/feed"}
	if err := ok.Check(); err != nil {
		t.Errorf("a good feed: %v", err)
	}
	if errors.Is(ErrNotFound, ErrInvalid) || errors.Is(ErrDuplicate, ErrInvalid) {
		t.Error("a store outcome matches ErrInvalid")
	}
}
