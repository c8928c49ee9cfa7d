package feeds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/clock"
	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/stories"
)

// testStart is the fake clock's start: the fixtures' items are dated the
// same morning.
var testStart = time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)

// env is a real SQLite file with a feed store, a poller on a fake clock
// and an HTTP server on loopback serving testdata/ (or a handler).
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *store.DB
	clock  *clock.Manual
	feeds  *Store
	poller *Poller
	mux    *http.ServeMux
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: clock.NewManual(testStart), mux: http.NewServeMux()}
	db := storetest.Open(t)
	e.db = db
	e.feeds = &Store{DB: db, Now: e.clock.Now}
	// The test server is on loopback: the fetcher's guard is lifted for
	// it explicitly (TestGuard... test the guard itself).
	e.poller = &Poller{Feeds: e.feeds, Fetcher: &Fetcher{AllowPrivate: true, Timeout: 5 * time.Second}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, r.Clone(context.Background()))
		e.mu.Unlock()
		e.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// serveFile answers path with a testdata file.
func (e *env) serveFile(path, file, contentType string) {
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		e.t.Fatal(err)
	}
	e.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	})
}

func (e *env) requests() []*http.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*http.Request(nil), e.reqs...)
}

// add stores a feed for a path of the test server.
func (e *env) add(path string, f Feed) Feed {
	e.t.Helper()
	f.URL = e.srv.URL + path
	if err := e.feeds.Add(e.ctx, &f); err != nil {
		e.t.Fatal(err)
	}
	got, err := e.feeds.Get(e.ctx, f.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// fetch polls feed id once and returns the result.
func (e *env) fetch(id int64) Result {
	e.t.Helper()
	f, err := e.feeds.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.poller.Fetch(e.ctx, f)
}

// story is a stored story with its image.
type story struct {
	stories.Story
	Image string
}

// stories returns every stored story by URL.
func (e *env) stories() map[string]story {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT s.id, c.name, s.title, s.url, s.teaser, s.image, s.published_at, s.hidden
		FROM stories s JOIN sections c ON c.id = s.section_id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]story{}
	for rows.Next() {
		var s story
		var pub int64
		if err := rows.Scan(&s.ID, &s.Section, &s.Title, &s.URL, &s.Teaser, &s.Image, &pub, &s.Hidden); err != nil {
			e.t.Fatal(err)
		}
		s.PublishedAt = time.Unix(pub, 0).UTC()
		out[s.URL] = s
	}
	return out
}
