package preview

import (
	"context"
	"html/template"

	"github.com/newsroom/digest/report"
)

// editionReport is what the edition page shows of a sent edition: the
// report (as digest editions report prints it) and the list's history
// over the last PastEditions editions, as an inline SVG (no script).
type editionReport struct {
	Report report.Edition
	Chart  template.HTML
}

func (s *Server) reportOf(ctx context.Context, ed Edition) *editionReport {
	if ed.ID == 0 || s.Source == nil || s.Source.DB == nil {
		return nil
	}
	r, err := report.ForEdition(ctx, s.Source.DB, ed.ID)
	if err != nil || r.Recipients == 0 {
		return nil // not sent (a preview's edition), or unreadable: no section
	}
	points, err := report.History(ctx, s.Source.DB, ed.ListID, PastEditions)
	if err != nil {
		return nil
	}
	// Chart escapes every data field (dates) itself.
	return &editionReport{Report: r, Chart: template.HTML(report.Chart(points))}
}
