package subscribers

import "context"

// AllLists returns every list, by name.
func (s *Store) AllLists(ctx context.Context) ([]List, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+listColumns+` FROM lists ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
