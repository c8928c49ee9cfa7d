package subscribers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/newsroom/digest/subscribers"
)

// FuzzImport imports arbitrary files into an empty list and checks what
// an operator relies on: a dry run writes nothing and predicts the real
// import's counts; every data row is counted once; each new address is
// one subscriber; everything stored passes the validation that show,
// remove and export apply (the stored address normalises to itself, the
// name is one clean line, the attributes a JSON object); a file is only
// ever refused as bad CSV, never with a database error; and importing
// the same file again adds nobody. Seeds: testdata/fuzz/FuzzImport.
func FuzzImport(f *testing.F) {
	subs := openStore(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data string) {
		if _, err := subs.DB.ExecContext(ctx, `DELETE FROM memberships; DELETE FROM subscribers`); err != nil {
			t.Fatal(err)
		}
		var rejected int
		opt := subscribers.ImportOptions{DryRun: true, Report: func(r subscribers.RowReport) {
			if r.Line < 1 || r.Reason == "" || strings.ContainsAny(r.Reason, "\r\n") {
				t.Errorf("report %+v: no line, or no one-line reason", r)
			}
			if r.Kind == subscribers.RowRejected {
				rejected++
			}
		}}
		dry, dryErr := subs.Import(ctx, strings.NewReader(data), opt)
		checkImportError(t, dryErr)
		if n := countRows(t, subs.DB, "subscribers"); n != 0 {
			t.Fatalf("the dry run wrote %d subscribers", n)
		}
		opt.DryRun = false
		rejected = 0
		sum, err := subs.Import(ctx, strings.NewReader(data), opt)
		checkImportError(t, err)
		if (err == nil) != (dryErr == nil) {
			t.Fatalf("dry run said %v, the import %v", dryErr, err)
		}
		if err != nil {
			return
		}
		dry.DryRun = false
		if dry != sum {
			t.Fatalf("dry run predicted %+v, the import did %+v", dry, sum)
		}
		if sum.Rows != sum.Added+sum.Updated+sum.Unchanged+sum.Skipped+sum.Rejected || rejected != sum.Rejected {
			t.Fatalf("rows not counted once each: %+v (%d rejection reports)", sum, rejected)
		}
		stored := 0
		err = subs.EachMember(ctx, subscribers.Filter{List: subscribers.DefaultList}, func(m subscribers.Member) error {
			stored++
			if addr, err := subscribers.NormalizeAddress(m.Email); err != nil || addr != m.Email {
				t.Errorf("stored address %q does not validate as itself: %q, %v", m.Email, addr, err)
			}
			if m.Name != subscribers.CleanName(m.Name) {
				t.Errorf("stored name %q is not clean", m.Name)
			}
			if !subscribers.ValidStatus(m.Status) {
				t.Errorf("stored status %q", m.Status)
			}
			var attrs map[string]string
			if err := json.Unmarshal(m.Attributes, &attrs); err != nil {
				t.Errorf("attributes %s: %v", m.Attributes, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if stored != sum.Added {
			t.Fatalf("%d subscribers stored, %d counted as added", stored, sum.Added)
		}
		again, err := subs.Import(ctx, strings.NewReader(data), subscribers.ImportOptions{})
		if err != nil || again.Added != 0 || again.Rows != sum.Rows {
			t.Fatalf("importing the file again: %+v, %v (first time %+v)", again, err, sum)
		}
	})
}

// checkImportError accepts the errors a file can cause: refused as a
// whole, a record that never ends, or a CSV syntax error.
func checkImportError(t *testing.T, err error) {
	t.Helper()
	var pe *csv.ParseError
	if err == nil || errors.Is(err, subscribers.ErrBadCSV) || errors.As(err, &pe) || strings.Contains(err.Error(), "a quote is probably never closed") {
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error is not one line: %q", err)
		}
		return
	}
	t.Fatalf("import failed with %v", err)
}
