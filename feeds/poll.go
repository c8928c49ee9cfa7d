package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"
)

// Defaults of the Poller.
const (
	DefaultConcurrency = 4
	DefaultCheck       = time.Minute
	// MaxSitemaps bounds the child sitemaps read from a sitemap index per
	// poll (the first listed, which news sites order newest first).
	MaxSitemaps = 10
	// claimHold is how long a claimed feed stays out of other processes'
	// rounds while this one fetches it.
	claimHold = 10 * time.Minute
)

// Result is one feed's fetch: its HTTP status and what storing did.
type Result struct {
	Feed   Feed   `json:"-"`
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status int    `json:"status"`
	Counts
	// NotModified is a 304: nothing was parsed.
	NotModified bool `json:"not_modified"`
	// MovedTo is the feed's new URL after a permanent redirect.
	MovedTo   string    `json:"moved_to,omitempty"`
	Error     string    `json:"error,omitempty"`
	NextFetch time.Time `json:"next_fetch"`
	Err       error     `json:"-"`
}

// Poller fetches feeds: all due ones in a Round, each again on its own
// schedule in Run (digest serve), or the ones named (digest feeds fetch).
type Poller struct {
	Feeds   *Store
	Fetcher *Fetcher
	Logger  *slog.Logger
	// Concurrency is how many feeds are fetched at once.
	Concurrency int
	// Check is the longest Run sleeps before looking for due feeds again
	// (feeds added meanwhile are due at once).
	Check time.Duration
	// PerHost limits enrichment's page fetches per host.
	PerHost int

	once     sync.Once
	enricher *enricher
}

func (p *Poller) init() {
	p.once.Do(func() {
		if p.Fetcher == nil {
			p.Fetcher = &Fetcher{}
		}
		if p.Logger == nil {
			p.Logger = slog.New(slog.DiscardHandler)
		}
		if p.Concurrency <= 0 {
			p.Concurrency = DefaultConcurrency
		}
		if p.Check <= 0 {
			p.Check = DefaultCheck
		}
		p.enricher = &enricher{fetcher: p.Fetcher, perHost: p.PerHost}
	})
}

// Run polls every feed on its schedule until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	p.init()
	for {
		if _, err := p.Round(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Error("feeds: poll round", "err", err)
		}
		wait := p.Check
		if next, err := p.Feeds.NextDue(ctx); err == nil && !next.IsZero() {
			if d := next.Sub(p.Feeds.now()); d < wait {
				wait = max(d, time.Second)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Round fetches every due feed this process can claim, Concurrency at a
// time, and returns the results in the feeds' order.
func (p *Poller) Round(ctx context.Context) ([]Result, error) {
	p.init()
	due, err := p.Feeds.Due(ctx, p.Feeds.now())
	if err != nil {
		return nil, err
	}
	var claimed []Feed
	for _, f := range due {
		ok, err := p.Feeds.claim(ctx, f, claimHold)
		if err != nil {
			return nil, err
		}
		if ok {
			claimed = append(claimed, f)
		}
	}
	results := p.fetchAll(ctx, claimed)
	for _, r := range results {
		if r.Err != nil {
			p.Logger.Warn("feed fetch failed", "feed", r.ID, "url", r.Feed.URL, "status", r.Status, "err", r.Error,
				"errors_in_row", r.Feed.Errors+1, "next_fetch", r.NextFetch.Format(time.RFC3339))
		} else {
			p.Logger.Info("feed fetched", "feed", r.ID, "status", r.Status, "new", r.New, "updated", r.Updated,
				"unchanged", r.Unchanged, "skipped", r.Skipped, "next_fetch", r.NextFetch.Format(time.RFC3339))
		}
	}
	return results, nil
}

// FetchNow fetches the feeds with the given ids (all feeds when none),
// whether due or not.
func (p *Poller) FetchNow(ctx context.Context, ids []int64) ([]Result, error) {
	p.init()
	var list []Feed
	if len(ids) == 0 {
		var err error
		if list, err = p.Feeds.List(ctx); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		f, err := p.Feeds.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		list = append(list, f)
	}
	return p.fetchAll(ctx, list), nil
}

func (p *Poller) fetchAll(ctx context.Context, list []Feed) []Result {
	results := make([]Result, len(list))
	sem := make(chan struct{}, p.Concurrency)
	var wg sync.WaitGroup
	for i, f := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = p.Fetch(ctx, f)
		}()
	}
	wg.Wait()
	return results
}

// Fetch polls one feed: a conditional GET, then (unless 304) parsing and
// storing its items, then the feed's state and next fetch time. A failed
// fetch (a network error, a timeout, an error status, a body that is no
// feed) changes only the feed's error count, last error and back-off.
func (p *Poller) Fetch(ctx context.Context, f Feed) Result {
	p.init()
	r := Result{Feed: f, ID: f.ID, Name: f.Name}
	resp, err := p.Fetcher.Fetch(ctx, Request{URL: f.URL, ETag: f.ETag, LastModified: f.LastModified, AllowPrivate: f.AllowPrivate})
	if resp != nil {
		r.Status = resp.Status
	}
	var doc *Document
	if err == nil && !resp.NotModified {
		doc, err = p.parse(ctx, f, resp)
	}
	if err == nil && doc != nil {
		r.Counts, err = p.Feeds.ingest(ctx, &f, doc, p.enricher.enrich)
	}
	if ctx.Err() != nil && err != nil {
		// Shutting down: leave the feed as it was, due again at start.
		r.Err, r.Error = err, err.Error()
		p.Feeds.release(context.WithoutCancel(ctx), f)
		return r
	}
	if err != nil {
		r.Err, r.Error = err, oneLineErr(err)
		var retry time.Duration
		if resp != nil {
			retry = resp.RetryAfter
		}
		r.NextFetch, err = p.Feeds.recordFailure(ctx, f, r.Status, r.Error, retry)
		if err != nil {
			r.Error += "; and recording it failed: " + err.Error()
		}
		return r
	}
	r.NotModified = resp.NotModified
	r.NextFetch, r.MovedTo, err = p.Feeds.recordSuccess(ctx, f, resp)
	if err != nil {
		r.Err, r.Error = err, err.Error()
	}
	return r
}

// parse reads a fetched body as the feed's kind; a sitemap index brings
// in its child sitemaps' entries.
func (p *Poller) parse(ctx context.Context, f Feed, resp *Response) (*Document, error) {
	base, err := url.Parse(resp.URL)
	if err != nil {
		return nil, err
	}
	if f.Kind != KindSitemap {
		return ParseFeed(resp.Body, base)
	}
	doc, err := ParseSitemap(resp.Body, base)
	if err != nil || len(doc.Sitemaps) == 0 {
		return doc, err
	}
	all := &Document{}
	children := doc.Sitemaps[:min(len(doc.Sitemaps), MaxSitemaps)]
	var errs []error
	for _, loc := range children {
		cr, err := p.Fetcher.Fetch(ctx, Request{URL: loc, AllowPrivate: f.AllowPrivate})
		if err == nil {
			var cbase *url.URL
			if cbase, err = url.Parse(cr.URL); err == nil {
				var child *Document
				if child, err = ParseSitemap(cr.Body, cbase); err == nil {
					for _, it := range child.Items {
						it.Position = len(all.Items) + 1
						all.Items = append(all.Items, it)
					}
					continue
				}
			}
		}
		errs = append(errs, fmt.Errorf("child sitemap %s: %w", loc, err))
	}
	if len(errs) == len(children) {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// weekly counts the stories the feed gave that were published in the
// last seven days, for the adaptive schedule.
// feed_items drives the join (feeds owns it); stories gives only the
// publication time, which would otherwise be one lookup per item.
func (s *Store) weekly(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(DISTINCT i.story_id) FROM feed_items i JOIN stories s ON s.id = i.story_id
		WHERE i.feed_id = ? AND s.published_at > ?`, id, s.now().Add(-7*24*time.Hour).Unix()).Scan(&n)
	return n, err
}

func (s *Store) recordFailure(ctx context.Context, f Feed, status int, msg string, retry time.Duration) (time.Time, error) {
	now := s.now()
	next := nextFetch(now, f.Every, 0, f.Errors+1, 0, retry)
	_, err := s.DB.ExecContext(ctx, `UPDATE feeds SET errors = errors + 1, last_error = ?, last_status = ?,
		last_fetch_at = ?, next_fetch_at = ? WHERE id = ?`, msg, status, now.Unix(), next.Unix(), f.ID)
	return next, err
}

func (s *Store) recordSuccess(ctx context.Context, f Feed, resp *Response) (time.Time, string, error) {
	now := s.now()
	weekly, err := s.weekly(ctx, f.ID)
	if err != nil {
		return time.Time{}, "", err
	}
	next := nextFetch(now, f.Every, weekly, 0, resp.MaxAge, resp.RetryAfter)
	etag, lastMod := f.ETag, f.LastModified
	if !resp.NotModified {
		etag, lastMod = resp.ETag, resp.LastModified
	}
	_, err = s.DB.ExecContext(ctx, `UPDATE feeds SET errors = 0, last_error = '', last_status = ?, last_fetch_at = ?,
		next_fetch_at = ?, etag = ?, last_modified = ? WHERE id = ?`, resp.Status, now.Unix(), next.Unix(), etag, lastMod, f.ID)
	if err != nil {
		return next, "", err
	}
	moved := ""
	if resp.Moved && resp.URL != f.URL {
		res, err := s.DB.ExecContext(ctx, `UPDATE feeds SET url = ? WHERE id = ? AND NOT EXISTS (SELECT 1 FROM feeds WHERE url = ?)`,
			resp.URL, f.ID, resp.URL)
		if err != nil {
			return next, "", err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			moved = resp.URL
		}
	}
	return next, moved, nil
}

// release makes a claimed feed due again (a fetch cut short by shutdown).
func (s *Store) release(ctx context.Context, f Feed) {
	s.DB.ExecContext(ctx, `UPDATE feeds SET next_fetch_at = ? WHERE id = ?`, f.NextFetch.Unix(), f.ID)
}
