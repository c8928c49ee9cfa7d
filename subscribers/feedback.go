package subscribers

import (
	"fmt"
	"net/mail"
	"strings"
)

// Click tracking settings of a list.
const (
	ClickTrackingOff       = "off"
	ClickTrackingAggregate = "aggregate"
)

// normalizeFeedback checks the list's bounce address and click settings.
func normalizeFeedback(l *List) error {
	var err error
	if l.BounceAddress, err = NormalizeBounceAddress(l.BounceAddress); err != nil {
		return err
	}
	switch l.ClickTracking = strings.ToLower(strings.TrimSpace(l.ClickTracking)); l.ClickTracking {
	case "":
		l.ClickTracking = ClickTrackingOff
	case ClickTrackingOff, ClickTrackingAggregate:
	default:
		return fmt.Errorf("click tracking %q: use aggregate or off", clip(l.ClickTracking))
	}
	return nil
}

// NormalizeBounceAddress checks a bounce address: a bare address such as
// bounce@bounces.example.com, whose local part prefixes the VERP
// addresses (bounce+ID-HMAC@...) and whose domain receives the mailto
// unsubscribes (unsubscribe+TOKEN@...). A bare domain means bounce@ it.
// Empty stays empty (no bounce address).
func NormalizeBounceAddress(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if hasControl(raw) {
		return "", fmt.Errorf("bounce address contains a line break or control character")
	}
	if !strings.Contains(raw, "@") {
		raw = "bounce@" + raw
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Name != "" || a.Address != raw {
		return "", fmt.Errorf("bounce address %q is not a bare address like bounce@bounces.example.com", clip(raw))
	}
	addr, err := NormalizeAddress(raw)
	if err != nil {
		return "", fmt.Errorf("bounce address: %w", err)
	}
	if strings.ContainsAny(addr[:strings.LastIndexByte(addr, '@')], "+") {
		return "", fmt.Errorf("bounce address %q: the local part may not contain +, which digest adds itself", clip(raw))
	}
	return addr, nil
}
