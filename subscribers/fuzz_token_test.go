package subscribers_test

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/newsroom/digest/subscribers"
)

// tokenSyntax is the documented token format, written independently of
// ValidTokenFormat.
var tokenSyntax = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// FuzzTokenLookup checks unsubscribe-token parsing and lookup with tokens
// that keep some of a real token's characters (so that they share its
// indexed prefix) and add anything: a token is well-formed exactly when
// it matches the documented syntax; it finds a subscriber only when it is
// that subscriber's whole token; and anything else is ErrUnknownToken,
// never another error, and unsubscribes nobody. Seeds:
// testdata/fuzz/FuzzTokenLookup.
func FuzzTokenLookup(f *testing.F) {
	ctx := context.Background()
	subs := openStore(f)
	ada, err := subs.Add(ctx, "ada@example.com", "Ada")
	if err != nil {
		f.Fatal(err)
	}
	grace, err := subs.Add(ctx, "grace@example.com", "Grace")
	if err != nil {
		f.Fatal(err)
	}
	// Grace's token shares Ada's indexed prefix: only the full comparison
	// tells them apart.
	graceToken := ada.Token[:8] + "GraceGraceGraceGraceGraceGraceGraceGrace"
	if _, err := subs.DB.ExecContext(ctx, `UPDATE subscribers SET token = ? WHERE id = ?`, graceToken, grace.ID); err != nil {
		f.Fatal(err)
	}
	owners := map[string]string{ada.Token: ada.Email, graceToken: grace.Email}
	f.Fuzz(func(t *testing.T, keep uint8, suffix, list string) {
		token := ada.Token[:min(int(keep), len(ada.Token))] + suffix
		if got, want := subscribers.ValidTokenFormat(token), tokenSyntax.MatchString(token); got != want {
			t.Fatalf("ValidTokenFormat(%q) = %v, want %v", token, got, want)
		}
		owner := owners[token]
		sub, err := subs.ByToken(ctx, token)
		switch {
		case owner != "" && (err != nil || sub.Email != owner):
			t.Fatalf("ByToken(%s's token) = %q, %v", owner, sub.Email, err)
		case owner == "" && !errors.Is(err, subscribers.ErrUnknownToken):
			t.Fatalf("ByToken(%q) = %q, %v; want ErrUnknownToken", token, sub.Email, err)
		}
		ms, err := subs.UnsubscribeByToken(ctx, token, list)
		onList := list == "" || list == subscribers.DefaultList
		switch {
		case owner != "" && onList:
			if err != nil || len(ms) != 1 || ms[0].Status != subscribers.StatusUnsubscribed {
				t.Fatalf("UnsubscribeByToken(%s's token, %q) = %+v, %v", owner, list, ms, err)
			}
			if _, err := subs.Resubscribe(ctx, owner, ""); err != nil {
				t.Fatal(err)
			}
		case !errors.Is(err, subscribers.ErrUnknownToken):
			t.Fatalf("UnsubscribeByToken(%q, %q) = %+v, %v; want ErrUnknownToken", token, list, ms, err)
		}
		var active int
		if err := subs.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE status = 'active'`).Scan(&active); err != nil || active != 2 {
			t.Fatalf("%d active memberships after %q, %q (want both still active), %v", active, token, list, err)
		}
	})
}
