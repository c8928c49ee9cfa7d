package delivery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

// Delivery statuses in the ledger.
const (
	StatusQueued   = "queued"
	StatusSent     = "sent"
	StatusDeferred = "deferred"
	StatusFailed   = "failed"
)

// Summary counts what a run did.
type Summary struct {
	Sent     int
	Already  int
	Deferred int
	Failed   int
	Duration time.Duration
}

// Sender delivers an edition to the active members of its list.
type Sender struct {
	DB        *store.DB
	Subs      *subscribers.Store
	Transport Transport
	BaseURL   string
	Now       func() time.Time
	// Logf, when set, receives one line per failed recipient.
	Logf func(format string, args ...any)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

const pageSize = 500

// Send delivers the edition to every active member of the list who has no
// sent or failed delivery of it yet, and records each outcome. A second
// run sends nothing to anyone already sent. When the transport cannot
// open a session the run stops with ErrConnect; the edition and the
// unsent recipients stay for the next run.
func (s *Sender) Send(ctx context.Context, ed digest.Edition, list subscribers.List) (Summary, error) {
	start := time.Now()
	var sum Summary
	defer func() { sum.Duration = time.Since(start) }()
	var after int64
	for {
		batch := make([]subscribers.Subscriber, 0, pageSize)
		err := s.Subs.EachActive(ctx, list.ID, after, func(sub subscribers.Subscriber) error {
			batch = append(batch, sub)
			if len(batch) == pageSize {
				return errPageFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return sum, fmt.Errorf("read subscribers: %w", err)
		}
		if len(batch) == 0 {
			return sum, nil
		}
		after = batch[len(batch)-1].ID
		done, err := s.finished(ctx, ed.ID, batch[0].ID, after)
		if err != nil {
			return sum, err
		}
		for _, sub := range batch {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			if done[sub.ID] {
				sum.Already++
				continue
			}
			if err := s.sendOne(ctx, ed, list, sub, &sum); err != nil {
				return sum, err
			}
		}
		if len(batch) < pageSize {
			return sum, nil
		}
	}
}

var errPageFull = errors.New("page full")

// finished returns the subscribers in [lo, hi] whose delivery of the
// edition is settled (sent, or failed permanently).
func (s *Sender) finished(ctx context.Context, editionID, lo, hi int64) (map[int64]bool, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT subscriber_id FROM deliveries
		WHERE edition_id = ? AND subscriber_id BETWEEN ? AND ? AND status IN ('sent', 'failed')`, editionID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	defer rows.Close()
	done := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		done[id] = true
	}
	return done, rows.Err()
}

func (s *Sender) sendOne(ctx context.Context, ed digest.Edition, list subscribers.List, sub subscribers.Subscriber, sum *Summary) error {
	m, err := BuildMessage(ed, Envelope{List: list, Sub: sub, BaseURL: s.BaseURL, Now: s.now()})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s-%s-%08d", ed.Date, fileSafe(list.Name), sub.ID)
	sendErr := s.Transport.Send(ctx, key, m)
	if errors.Is(sendErr, ErrConnect) {
		return sendErr
	}
	status, code, reply := StatusSent, 0, ""
	if sendErr != nil {
		code, reply = ReplyOf(sendErr)
		status = StatusFailed
		if IsTemporary(sendErr) {
			status = StatusDeferred
		}
		if s.Logf != nil {
			s.Logf("%s %s: %s", status, sub.Email, reply)
		}
	}
	// The outcome is recorded even when the run is being stopped: a
	// message the server accepted must never be sent again.
	if err := s.record(context.WithoutCancel(ctx), ed.ID, sub.ID, status, m.GetMessageID(), code, reply); err != nil {
		return err
	}
	switch status {
	case StatusSent:
		sum.Sent++
	case StatusDeferred:
		sum.Deferred++
	default:
		sum.Failed++
	}
	return nil
}

func (s *Sender) record(ctx context.Context, editionID, subID int64, status, msgID string, code int, reply string) error {
	_, err := s.DB.ExecContext(ctx, `
		INSERT INTO deliveries (edition_id, subscriber_id, status, attempts, message_id, last_code, last_reply, updated_at)
		VALUES (?, ?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (edition_id, subscriber_id) DO UPDATE SET status = excluded.status,
			attempts = deliveries.attempts + 1, message_id = excluded.message_id,
			last_code = excluded.last_code, last_reply = excluded.last_reply, updated_at = excluded.updated_at`,
		editionID, subID, status, msgID, code, reply, s.now().Unix())
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

var unsafeFile = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string {
	return strings.Trim(unsafeFile.ReplaceAllString(s, "-"), "-.")
}
