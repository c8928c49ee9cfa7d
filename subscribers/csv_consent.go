package subscribers

import (
	"context"
	"time"

	"github.com/newsroom/digest/store"
)

// recordImported writes a consent record (source import) for every
// membership the batch set.
func (im *importer) recordImported(ctx context.Context, tx store.Querier, order []*member) error {
	at := time.Unix(im.now, 0)
	for _, m := range order {
		if !m.memberDirty {
			continue
		}
		if err := recordEvent(ctx, tx, m.id, ConsentEvent{At: at, List: im.list.Name, Action: actionFor("", m.status), Source: SourceImport}); err != nil {
			return err
		}
	}
	return nil
}

// toConfirm takes a row out of the import when it would make the address
// active without consent on record and the import asks for confirmations
// instead (ImportOptions.Confirm): new people, and members who are not
// active. An address already active is imported as usual.
func (im *importer) toConfirm(r row, m *member, sum *ImportSummary) bool {
	if im.opt.Confirm == nil || r.status != StatusActive {
		return false
	}
	if m != nil && m.status == StatusActive {
		return false
	}
	sum.Pending++
	if !im.opt.DryRun {
		im.confirm = append(im.confirm, [2]string{r.email, r.name})
	}
	return true
}

// sendConfirmations hands the committed batch's pending rows to the
// caller.
func (im *importer) sendConfirmations() {
	for _, c := range im.confirm {
		im.opt.Confirm(c[0], c[1])
	}
	im.confirm = im.confirm[:0]
}
