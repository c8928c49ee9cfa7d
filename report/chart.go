package report

import (
	"fmt"
	"html"
	"strings"
)

// Chart draws accepted, bounced and unsubscribed per edition as an
// inline SVG bar chart: server-rendered, no script, no external file.
// Bounces and unsubscribes share a second scale (they are a few per
// thousand), so they stay visible next to the accepted bars.
func Chart(points []Point) string {
	const w, h, pad = 600, 160, 24
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="accepted, bounced and unsubscribed over the last %d editions">`, w, h+40, w, h+40, len(points))
	var maxA, maxB int64 = 1, 1
	for _, p := range points {
		maxA = max(maxA, p.Accepted)
		maxB = max(maxB, p.Bounced, p.Unsubscribed)
	}
	n := max(len(points), 1)
	slot := float64(w-2*pad) / float64(n)
	for i, p := range points {
		x := float64(pad) + float64(i)*slot
		bar := func(off float64, v, top int64, colour, label string) {
			bh := float64(h-pad) * float64(v) / float64(top)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x+off*slot/3, float64(h)-bh, slot/3-1, bh, colour, html.EscapeString(p.Date), label, v)
		}
		bar(0, p.Accepted, maxA, "#2e7d32", "accepted")
		bar(1, p.Bounced, maxB, "#c62828", "bounced")
		bar(2, p.Unsubscribed, maxB, "#f9a825", "unsubscribed")
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>`, pad, h, w-pad, h)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" font-family="sans-serif"><tspan fill="#2e7d32">&#9632; accepted (max %d)</tspan> <tspan fill="#c62828">&#9632; bounced</tspan> <tspan fill="#f9a825">&#9632; unsubscribed (max %d)</tspan></text>`, pad, h+28, maxA, maxB)
	b.WriteString(`</svg>`)
	return b.String()
}
