package subscribers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

func openTokenStore(t *testing.T) (*subscribers.Store, *store.DB) {
	t.Helper()
	db := storetest.Open(t)
	return &subscribers.Store{DB: db}, db
}

func TestByTokenComparesTheWholeToken(t *testing.T) {
	ctx := context.Background()
	subs, db := openTokenStore(t)
	ada, err := subs.Add(ctx, "ada@example.com", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	grace, err := subs.Add(ctx, "grace@example.com", "Grace")
	if err != nil {
		t.Fatal(err)
	}
	// Give Grace a token with Ada's prefix: the index finds both rows,
	// and only the full comparison tells them apart.
	graceToken := ada.Token[:8] + strings.Repeat("G", len(ada.Token)-8)
	if _, err := db.ExecContext(ctx, `UPDATE subscribers SET token = ? WHERE id = ?`, graceToken, grace.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ token, want string }{{ada.Token, "ada@example.com"}, {graceToken, "grace@example.com"}} {
		got, err := subs.ByToken(ctx, tt.token)
		if err != nil || got.Email != tt.want {
			t.Errorf("ByToken: %v, %v; want %s", got.Email, err, tt.want)
		}
	}
	for _, bad := range []string{
		ada.Token[:len(ada.Token)-1] + "x", // same prefix, last character differs
		ada.Token[:len(ada.Token)-1],       // a prefix of a real token
		ada.Token + "A",                    // a real token plus one
		"short",
		strings.Repeat("A", 300),
		ada.Token[:20] + "'; DROP TABLE subscribers; --",
		"",
	} {
		if _, err := subs.ByToken(ctx, bad); !errors.Is(err, subscribers.ErrUnknownToken) {
			t.Errorf("ByToken(%q): %v, want ErrUnknownToken", bad, err)
		}
	}
}

func TestTokenLookupUsesThePrefixIndex(t *testing.T) {
	_, db := openTokenStore(t)
	rows, err := db.Query(`EXPLAIN QUERY PLAN SELECT id, email, name, token FROM subscribers WHERE substr(token, 1, 8) = ?`, "abcdefgh")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if !strings.Contains(plan.String(), "subscribers_token_prefix") {
		t.Errorf("the token lookup scans instead of using the index:\n%s", plan.String())
	}
}

func TestUnsubscribeAndResubscribeByToken(t *testing.T) {
	ctx := context.Background()
	subs, db := openTokenStore(t)
	if _, err := db.ExecContext(ctx, `INSERT INTO lists (name, title, from_addr, created_at, updated_at) VALUES ('weekly', 'The Weekly', 'w@example.com', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	ada, err := subs.Add(ctx, "ada@example.com", "", "daily", "weekly")
	if err != nil {
		t.Fatal(err)
	}
	statuses := func() string {
		ms, err := subs.MembershipsByToken(ctx, ada.Token, "")
		if err != nil {
			t.Fatal(err)
		}
		var b []string
		for _, m := range ms {
			b = append(b, m.List.Name+"="+m.Status)
		}
		return strings.Join(b, " ")
	}
	steps := []struct {
		name string
		do   func() ([]subscribers.TokenMembership, error)
		want string
	}{
		{"one list", func() ([]subscribers.TokenMembership, error) { return subs.UnsubscribeByToken(ctx, ada.Token, "daily") }, "daily=unsubscribed weekly=active"},
		{"again: no change", func() ([]subscribers.TokenMembership, error) { return subs.UnsubscribeByToken(ctx, ada.Token, "daily") }, "daily=unsubscribed weekly=active"},
		{"resubscribe", func() ([]subscribers.TokenMembership, error) { return subs.ResubscribeByToken(ctx, ada.Token, "daily") }, "daily=active weekly=active"},
		{"all lists", func() ([]subscribers.TokenMembership, error) { return subs.UnsubscribeByToken(ctx, ada.Token, "") }, "daily=unsubscribed weekly=unsubscribed"},
	}
	for _, s := range steps {
		if _, err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := statuses(); got != s.want {
			t.Fatalf("%s: %s, want %s", s.name, got, s.want)
		}
	}
	// A bounced membership is not revived by the resubscribe button.
	if _, err := db.ExecContext(ctx, `UPDATE memberships SET status = 'bounced' WHERE list_id = (SELECT id FROM lists WHERE name = 'weekly')`); err != nil {
		t.Fatal(err)
	}
	if _, err := subs.ResubscribeByToken(ctx, ada.Token, ""); err != nil {
		t.Fatal(err)
	}
	if got := statuses(); got != "daily=active weekly=bounced" {
		t.Fatalf("after resubscribing all: %s", got)
	}
	// A list the token holder is not on, or that does not exist, changes
	// nothing and is reported like an unknown token.
	for _, list := range []string{"nope", "weekly' OR '1'='1"} {
		if _, err := subs.UnsubscribeByToken(ctx, ada.Token, list); !errors.Is(err, subscribers.ErrUnknownToken) {
			t.Errorf("list %q: %v, want ErrUnknownToken", list, err)
		}
	}
	if got := statuses(); got != "daily=active weekly=bounced" {
		t.Fatalf("an unknown list changed memberships: %s", got)
	}
}
