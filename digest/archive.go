package digest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ArchiveEntry is one edition in a list's web archive.
type ArchiveEntry struct {
	Date    string
	Subject string
}

// ArchiveIndex returns the list's editions that went out to at least one
// subscriber, newest first, at most limit. An edition built but never
// sent (say, one an editor previewed ahead of the morning) stays off the
// public archive.
//
// "Went out" is a semi-join on the ledger (deliveries, delivery's table,
// which digest cannot import: delivery sits above it). editions drives
// the query, so its owner exposes it; asking the ledger edition by
// edition would be one query per archived day.
func (e *Editions) ArchiveIndex(ctx context.Context, listID int64, limit int) ([]ArchiveEntry, error) {
	rows, err := e.DB.QueryContext(ctx, `SELECT e.date, e.subject FROM editions e
		WHERE e.list_id = ? AND EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')
		ORDER BY e.date DESC LIMIT ?`, listID, limit)
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	defer rows.Close()
	var out []ArchiveEntry
	for rows.Next() {
		var a ArchiveEntry
		if err := rows.Scan(&a.Date, &a.Subject); err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Archived returns the list's edition for the date when it went out (see
// ArchiveIndex), and ErrNoEdition otherwise. Its HTML still holds the
// personal placeholders; fill them with neutral values before showing it.
func (e *Editions) Archived(ctx context.Context, listID int64, date string) (Edition, error) {
	var id int64
	err := e.DB.QueryRowContext(ctx, `SELECT e.id FROM editions e WHERE e.list_id = ? AND e.date = ?
		AND EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.status = 'sent')`, listID, date).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Edition{}, fmt.Errorf("%w of list %d for %s", ErrNoEdition, listID, date)
	}
	if err != nil {
		return Edition{}, fmt.Errorf("read archive: %w", err)
	}
	return e.GetByID(ctx, id)
}
