package feeds

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/net/html"
)

// DefaultPerHost is how many article pages enrichment fetches at once
// from one host: a feed of fifty new items must not hit its newsroom's
// site with fifty requests at once.
const DefaultPerHost = 2

// enricher fetches article pages for items that lack a summary or an
// image, at most perHost at a time per host.
type enricher struct {
	fetcher *Fetcher
	perHost int

	mu    sync.Mutex
	hosts map[string]chan struct{}
}

func (e *enricher) slot(host string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hosts == nil {
		e.hosts = map[string]chan struct{}{}
	}
	ch, ok := e.hosts[host]
	if !ok {
		n := e.perHost
		if n <= 0 {
			n = DefaultPerHost
		}
		ch = make(chan struct{}, n)
		e.hosts[host] = ch
	}
	return ch
}

// enrich fills the teaser and image of the feed's new items from their
// pages. Only items never seen before are fetched (once per article); a
// page that fails to load leaves the item as the feed gave it.
func (e *enricher) enrich(ctx context.Context, f *Feed, items []*prepared) {
	var wg sync.WaitGroup
	for _, p := range items {
		if p.known != nil || (p.story.Teaser != "" && p.item.Image != "") {
			continue
		}
		u, err := url.Parse(p.item.Link)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot := e.slot(strings.ToLower(u.Host))
			select {
			case slot <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slot }()
			resp, err := e.fetcher.Fetch(ctx, Request{URL: p.item.Link, AllowPrivate: f.AllowPrivate,
				Accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})
			if err != nil || resp.NotModified {
				return
			}
			m := PageMeta(resp.Body)
			if p.story.Teaser == "" && m.Description != "" {
				p.story.Teaser = teaser(m.Description)
			}
			if p.item.Image == "" && m.Image != "" {
				if base, err := url.Parse(resp.URL); err == nil {
					if img := resolve(base, m.Image); isHTTP(img) {
						p.item.Image = img
					}
				}
			}
		}()
	}
	wg.Wait()
}

// Meta is what an article page says about itself.
type Meta struct {
	Description string
	Image       string
}

// PageMeta reads og:description, twitter:description and <meta
// name=description>, og:image and twitter:image from a page's head, in
// that order of preference. It stops at <body>: the head is enough.
func PageMeta(page []byte) Meta {
	z := html.NewTokenizer(bytes.NewReader(page))
	found := map[string]string{}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if string(name) == "body" {
			break
		}
		if string(name) != "meta" || !hasAttr {
			continue
		}
		var key, content string
		for {
			k, v, more := z.TagAttr()
			switch string(k) {
			case "property", "name":
				key = strings.ToLower(strings.TrimSpace(string(v)))
			case "content":
				content = strings.TrimSpace(string(v))
			}
			if !more {
				break
			}
		}
		if key != "" && content != "" {
			if _, ok := found[key]; !ok {
				found[key] = content
			}
		}
	}
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v := found[k]; v != "" {
				return v
			}
		}
		return ""
	}
	return Meta{
		Description: pick("og:description", "twitter:description", "description"),
		Image:       pick("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"),
	}
}
