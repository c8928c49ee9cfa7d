package main

import (
	"strings"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/web"
)

// wireSignup gives the web server the public sign-up: confirmations go
// through the delivery engine (the configured SMTP relay or outbox,
// DKIM-signed, from the list's sender), settings from the configuration.
func (a *App) wireSignup(site *web.Server) error {
	dkim, err := delivery.LoadDKIM(delivery.DKIMConfig{KeyFile: a.cfg.DKIM.KeyFile, Selector: a.cfg.DKIM.Selector, Domain: a.cfg.DKIM.Domain})
	if err != nil {
		return usageError{err}
	}
	site.Confirmations = &delivery.Confirmations{Transport: a.transport, DKIM: dkim, Now: a.now}
	site.Signup = a.signupSettings()
	return nil
}

// signupSettings are the sign-up's settings from the configuration, the
// same for the server and the form snippet.
func (a *App) signupSettings() web.SignupSettings {
	c := a.composer()
	return web.SignupSettings{
		BaseURL: a.cfg.BaseURL, RecordIP: a.cfg.RecordIP,
		BlockedDomains: strings.Split(a.cfg.Signup.BlockedDomains, ","), ConsentText: a.cfg.Signup.ConsentText,
		Accent: c.Brand.Accent, Brand: c.Brand.Name,
	}
}
