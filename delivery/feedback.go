package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/newsroom/digest/bounces"
	"github.com/newsroom/digest/clicks"
	"github.com/newsroom/digest/subscribers"
)

// Feedback is how a send prepares for what comes back.
type Feedback struct {
	// BounceAddress is the global bounce_address (a list's own wins);
	// empty keeps the From address as the envelope sender.
	BounceAddress string
	// VERPKey signs VERP envelope senders; ClickKey signs redirect links
	// (lists with click_tracking = "aggregate"). Both come from package
	// secret.
	VERPKey, ClickKey []byte
}

// feedbackRun is a run's share of it.
type feedbackRun struct {
	bounce   string
	delivery *sql.Stmt
}

func (f *feedbackRun) close() {
	if f.delivery != nil {
		f.delivery.Close()
	}
}

// prepareFeedback rewrites the edition's story links for aggregate click
// counting and prepares the delivery lookup of VERP addresses.
func (r *run) prepareFeedback(ctx context.Context) error {
	fb := r.s.Feedback
	if r.list.ClickTracking == subscribers.ClickTrackingAggregate && len(fb.ClickKey) > 0 && r.s.BaseURL != "" {
		urls, err := clicks.EditionURLs(ctx, r.s.DB, r.ed.ID)
		if err != nil {
			return err
		}
		link := func(story int64) string { return clicks.Link(r.s.BaseURL, fb.ClickKey, r.ed.ID, story) }
		ed := r.ed
		ed.HTML, ed.Text = clicks.Rewrite(ed.HTML, ed.Text, urls, link)
		r.tmpl = ed.Template()
		// Readers' variants (sections, weekly) are rewritten once each
		// too. Only the edition's own stories count (the redirect checks
		// the story is in the edition), so a weekly variant's links to
		// stories of earlier editions stay direct.
		if r.variants != nil {
			for _, v := range r.variants.All() {
				ved := v.Edition
				ved.HTML, ved.Text = clicks.Rewrite(ved.HTML, ved.Text, urls, link)
				v.Edition, v.Template = ved, ved.Template()
			}
		}
	}
	r.fb.bounce = r.list.BounceAddress
	if r.fb.bounce == "" {
		r.fb.bounce = fb.BounceAddress
	}
	if r.fb.bounce == "" || len(fb.VERPKey) == 0 {
		r.fb.bounce = ""
		return nil
	}
	var err error
	r.fb.delivery, err = r.s.DB.PrepareContext(ctx, `SELECT id FROM deliveries WHERE edition_id = ? AND subscriber_id = ?`)
	if err != nil {
		return fmt.Errorf("read deliveries: %w", err)
	}
	return nil
}

// envelopeFrom sets the message's envelope sender to the delivery's VERP
// address when the list has a bounce address. The queued row exists: the
// producer commits it before handing the recipient on.
func (r *run) envelopeFrom(ctx context.Context, m outgoing, subID int64) error {
	if r.fb.bounce == "" {
		return nil
	}
	var id int64
	err := r.fb.delivery.QueryRowContext(ctx, r.ed.ID, subID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // erased since the membership check: the ledger drops the outcome
	}
	if err != nil {
		return fmt.Errorf("read delivery of subscriber %d: %w", subID, err)
	}
	verp := bounces.VERP(r.fb.bounce, r.s.Feedback.VERPKey, bounces.DeliveryRef{ID: id, EditionID: r.ed.ID, SubscriberID: subID})
	if err := m.setEnvelopeFrom(verp); err != nil {
		return fmt.Errorf("envelope sender %s: %w", verp, err)
	}
	return nil
}
