package templates_test

import (
	"testing"

	"github.com/newsroom/digest/templates"
)

// TestAccentsKeepContrast: an accent that reads well is drawn as set; one
// that does not is moved, keeping its hue, to the first shade that
// reaches 4.5:1 on every background of its scheme; the default keeps its
// designed dark shade; a value that is not a colour gives the default.
func TestAccentsKeepContrast(t *testing.T) {
	tests := []struct {
		accent, light, dark string
	}{
		{"", "#b3261e", "#ff8a80"},
		{"#b3261e", "#b3261e", "#ff8a80"},
		{"#B3261E", "#b3261e", "#ff8a80"},
		{"red;background:url(x)", "#b3261e", "#ff8a80"},
		// Dark blue: fine on white, lightened for dark mode.
		{"#0b5394", "#0b5394", "#5487b4"},
		// Yellow: fine in dark mode, darkened on white.
		{"#ffcc00", "#856a00", "#ffcc00"},
		{"#fc0", "#856a00", "#ffcc00"},
		// Mid grey fails in both schemes.
		{"#888888", "#6e6e6e", "#888888"},
	}
	for _, tt := range tests {
		light, dark := templates.Brand{Accent: tt.accent}.Accents()
		if light != tt.light || dark != tt.dark {
			t.Errorf("Accents(%q) = %s, %s; want %s, %s", tt.accent, light, dark, tt.light, tt.dark)
		}
		for _, c := range []struct{ fg, bg string }{{light, "#ffffff"}, {light, "#f2f2ef"}, {dark, "#1b1b1b"}, {dark, "#111111"}} {
			if r, err := templates.ContrastRatio(c.fg, c.bg); err != nil || r < templates.MinTextContrast {
				t.Errorf("Accents(%q): %s on %s is %.2f:1 (%v)", tt.accent, c.fg, c.bg, r, err)
			}
		}
	}
}

func TestContrastRatio(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want float64
	}{{"#000", "#ffffff", 21}, {"#ffffff", "#ffffff", 1}, {"#5c5c5c", "#f2f2ef", 5.96}} {
		r, err := templates.ContrastRatio(tt.a, tt.b)
		if err != nil || r < tt.want-0.01 || r > tt.want+0.01 {
			t.Errorf("ContrastRatio(%s, %s) = %.3f, %v; want %.2f", tt.a, tt.b, r, err, tt.want)
		}
	}
	if _, err := templates.ContrastRatio("blue", "#fff"); err == nil {
		t.Error("a colour name was accepted")
	}
}
