package digest

import (
	"context"
	"errors"

	"github.com/newsroom/digest/subscribers"
)

// Next selects the list's next edition as it would be built now, for a
// preview: today's when no edition of today is stored yet, otherwise the
// following day's, covering what was published since the stored one
// ended. Nothing is stored.
func (e *Editions) Next(ctx context.Context, list subscribers.List) (Selection, error) {
	date, day, err := e.ParseDate(list, "")
	if err != nil {
		return Selection{}, err
	}
	if _, err := e.Get(ctx, list, date); err == nil {
		day = day.AddDate(0, 0, 1)
		date = day.Format(DateLayout)
	} else if !errors.Is(err, ErrNoEdition) {
		return Selection{}, err
	}
	return e.selectFor(ctx, list, date, day)
}
