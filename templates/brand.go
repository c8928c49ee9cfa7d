package templates

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MinTextContrast is WCAG 2.1 AA's contrast ratio for body text, which
// the accent is used for (section names, READ MORE, the masthead's
// brand name: 15 px, below WCAG's large text).
const MinTextContrast = 4.5

// The backgrounds the accent is drawn on: the card and the page of each
// colour scheme (the theme's bgcolor values and its dark-mode block).
var (
	lightBackgrounds = []string{"#ffffff", "#f2f2ef"}
	darkBackgrounds  = []string{"#1b1b1b", "#111111"}
)

// defaultDarkAccent is the default accent's shade for dark mode, chosen
// by hand (Material's red A100) rather than derived.
const defaultDarkAccent = "#ff8a80"

// Accents returns the accent as the theme draws it: light for the light
// scheme and dark for dark mode, each at least MinTextContrast on every
// background of its scheme. A brand accent that falls short is moved,
// keeping its hue, the least way that passes: darkened towards black for
// the light scheme, lightened towards white for dark mode (a yellow
// #ffcc00 is shown as #856a00 on white). An empty or unreadable accent
// gives the default's pair, #b3261e and #ff8a80.
func (b Brand) Accents() (light, dark string) {
	rgb, ok := parseHex(b.Accent)
	def, _ := parseHex(DefaultBrand.Accent)
	if !ok {
		rgb = def
	}
	light = readable(rgb, [3]float64{0, 0, 0}, lightBackgrounds)
	if rgb == def {
		return light, defaultDarkAccent
	}
	return light, readable(rgb, [3]float64{255, 255, 255}, darkBackgrounds)
}

// readable mixes c with towards in steps of 1 % until it reaches
// MinTextContrast on every one of bgs, and returns it as #rrggbb.
func readable(c, towards [3]float64, bgs []string) string {
	for step := 0; step <= 100; step++ {
		t := float64(step) / 100
		var m [3]float64
		for i := range m {
			m[i] = math.Round(c[i] + (towards[i]-c[i])*t)
		}
		hex := fmt.Sprintf("#%02x%02x%02x", int(m[0]), int(m[1]), int(m[2]))
		passes := true
		for _, bg := range bgs {
			if r, _ := ContrastRatio(hex, bg); r < MinTextContrast {
				passes = false
			}
		}
		if passes {
			return hex
		}
	}
	// Black on a light background, white on a dark one: always passes.
	return fmt.Sprintf("#%02x%02x%02x", int(towards[0]), int(towards[1]), int(towards[2]))
}

func parseHex(c string) ([3]float64, bool) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(c)), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if !ok || len(h) != 6 || err != nil {
		return [3]float64{}, false
	}
	return [3]float64{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}, true
}

// ContrastRatio is WCAG 2.1's contrast ratio of two #rgb or #rrggbb
// colours, from 1 (the same) to 21 (black on white).
func ContrastRatio(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05), nil
}

// luminance is WCAG 2.1's relative luminance.
func luminance(c string) (float64, error) {
	rgb, ok := parseHex(c)
	if !ok {
		return 0, fmt.Errorf("colour %q: the contrast check reads #rgb and #rrggbb only", strings.TrimSpace(c))
	}
	lin := func(v float64) float64 {
		s := v / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(rgb[0]) + 0.7152*lin(rgb[1]) + 0.0722*lin(rgb[2]), nil
}

// AccentLight is the accent's shade for light backgrounds (see Accents):
// what pages with white text on accent buttons draw.
func (b Brand) AccentLight() string {
	light, _ := b.Accents()
	return light
}
