package subscribers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Journal keeps one-click unsubscribe requests that could not be written
// to the database at once (another writer held its lock): an RFC 8058
// POST must be honoured and must not get a 500, and the mail provider
// will not retry it. Each request is appended as one JSON line to a file
// next to the database and fsynced before the handler answers 200; Apply
// writes the journal's requests into the database and removes them, and
// runs at every start of a delivery run and every few seconds in digest
// serve, so a request survives a crash or a restart until it is written.
// The file holds tokens, which are secrets like the database itself: it
// is created readable by its owner only.
type Journal struct {
	Path string
	mu   sync.Mutex // one process's appends and applies; flock across processes
}

// JournalPath is the journal file of the database at dbPath.
func JournalPath(dbPath string) string { return dbPath + "-unsubscribes" }

// journalEntry is one journalled request.
type journalEntry struct {
	Token string `json:"token"`
	List  string `json:"list,omitempty"`
	At    int64  `json:"at"`
}

// Append records an unsubscribe request durably.
func (j *Journal) Append(token, list string, at time.Time) error {
	line, err := json.Marshal(journalEntry{Token: token, List: list, At: at.Unix()})
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unsubscribe journal: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("unsubscribe journal: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("unsubscribe journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("unsubscribe journal: %w", err)
	}
	return nil
}

// ApplyJournal writes the journal's requests into the store and empties
// the file once all are written; it returns how many were applied. A
// request whose token is unknown (the person was erased) is dropped.
// When the database is still locked the requests stay for the next try.
func (s *Store) ApplyJournal(ctx context.Context, j *Journal) (int, error) {
	if j == nil || j.Path == "" {
		return 0, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.Path, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("unsubscribe journal: %w", err)
	}
	defer f.Close()
	// Held while applying: an Append elsewhere waits for it, so no line
	// can be added between reading the file and emptying it.
	if err := lockFile(f); err != nil {
		return 0, fmt.Errorf("unsubscribe journal: %w", err)
	}
	body, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("unsubscribe journal: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a torn last line from a crash mid-append
		}
		if _, err := s.UnsubscribeByTokenWithin(ctx, e.Token, e.List, time.Second); err != nil && !errors.Is(err, ErrUnknownToken) {
			return n, fmt.Errorf("apply unsubscribe journal: %w", err)
		}
		n++
	}
	// Emptied, not removed: an Append elsewhere may have the file open
	// already and be waiting for the lock; its line must land in the file
	// the next Apply reads.
	if err := f.Truncate(0); err != nil {
		return n, fmt.Errorf("unsubscribe journal: %w", err)
	}
	return n, nil
}
