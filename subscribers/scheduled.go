package subscribers

import (
	"context"
	"fmt"
)

// ScheduledLists returns every list, in id order, for the daemon that
// sends each on its schedule. It reads them all at once: a newsroom has a
// handful of lists, and the daemon rereads them periodically to pick up
// changed schedules.
func (s *Store) ScheduledLists(ctx context.Context) ([]List, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+listColumns+` FROM lists ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	defer rows.Close()
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, fmt.Errorf("read lists: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	return out, nil
}
