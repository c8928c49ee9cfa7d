package canon

import "testing"

func TestStoryURLKeepsTheFragment(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://News.Example.COM:443/a?utm_source=x&id=3#frag": "https://news.example.com/a?id=3#frag",
		" https://example.com/live?fbclid=1#update%202 ":        "https://example.com/live#update%202",
		"http://example.com:80":                                 "http://example.com/",
		"https://example.com/a?b=2&a=1&UTM_Campaign=z":          "https://example.com/a?b=2&a=1",
		"http://%zz": "http://%zz", // left for the caller's check
	} {
		if got := StoryURL(in); got != want {
			t.Errorf("StoryURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got, _ := Canonical("https://example.com/a#frag"); got != "https://example.com/a" {
		t.Errorf("Canonical drops the fragment: got %q", got)
	}
}
