package subscribers_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/newsroom/digest/subscribers"
)

func TestRemoveErasesPersonMembershipsAndDeliveries(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.CreateList(ctx, subscribers.List{Name: "weekly", From: "w@example.com"}); err != nil {
		t.Fatal(err)
	}
	const secret = "erase.me.please@example.org"
	if _, err := s.Add(ctx, secret, "Erin Erasure", "daily", "weekly"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "stays@example.com", "Stella", "daily"); err != nil {
		t.Fatal(err)
	}
	addDelivery(t, s, "daily", secret)
	addDelivery(t, s, "weekly", secret)
	addDelivery(t, s, "daily", "stays@example.com")
	sub, _ := s.Get(ctx, secret)

	e, err := s.Remove(ctx, "ERASE.ME.PLEASE@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if e.Memberships != 2 {
		t.Fatalf("erased %+v, want 2 memberships", e)
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM subscribers WHERE id = ?`,
		`SELECT COUNT(*) FROM memberships WHERE subscriber_id = ?`,
		`SELECT COUNT(*) FROM deliveries WHERE subscriber_id = ?`,
	} {
		if n := count(t, s, q, sub.ID); n != 0 {
			t.Errorf("%s: %d rows left", q, n)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM deliveries`); n != 1 {
		t.Errorf("%d deliveries left, want the other subscriber's 1", n)
	}
	if _, err := s.Get(ctx, secret); !errors.Is(err, subscribers.ErrUnknownSubscriber) {
		t.Errorf("still found: %v", err)
	}
	// Not even freed pages of the file keep the address or the name.
	for _, path := range []string{s.DB.Path, s.DB.Path + "-wal"} {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, trace := range []string{secret, "Erin Erasure"} {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(trace))) {
				t.Errorf("%s still contains %q", path, trace)
			}
		}
	}
	if _, err := s.Remove(ctx, secret); !errors.Is(err, subscribers.ErrUnknownSubscriber) {
		t.Errorf("second remove: %v", err)
	}
}

func TestUnsubscribeAndResubscribe(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.CreateList(ctx, subscribers.List{Name: "weekly", From: "w@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "ada@example.com", "", "daily", "weekly"); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		d, err := s.Show(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, m := range d.Memberships {
			parts = append(parts, m.List+"="+m.Status)
		}
		return strings.Join(parts, " ")
	}
	steps := []struct {
		do      func() ([]string, error)
		changed string
		want    string
	}{
		{func() ([]string, error) { return s.Unsubscribe(ctx, "Ada@Example.com", "weekly") }, "weekly", "daily=active weekly=unsubscribed"},
		{func() ([]string, error) { return s.Unsubscribe(ctx, "ada@example.com", "weekly") }, "", "daily=active weekly=unsubscribed"},
		{func() ([]string, error) { return s.Unsubscribe(ctx, "ada@example.com", "") }, "daily", "daily=unsubscribed weekly=unsubscribed"},
		{func() ([]string, error) { return s.Resubscribe(ctx, "ada@example.com", "daily") }, "daily", "daily=active weekly=unsubscribed"},
		{func() ([]string, error) { return s.Resubscribe(ctx, "ada@example.com", "") }, "weekly", "daily=active weekly=active"},
	}
	for i, st := range steps {
		changed, err := st.do()
		if err != nil || strings.Join(changed, ",") != st.changed || status() != st.want {
			t.Fatalf("step %d: changed %v (%v), status %q; want changed %q, status %q", i, changed, err, status(), st.changed, st.want)
		}
	}
	// Re-adding does not re-subscribe: that takes Resubscribe.
	s.Unsubscribe(ctx, "ada@example.com", "daily")
	s.Add(ctx, "ada@example.com", "Ada", "daily")
	if got := status(); got != "daily=unsubscribed weekly=active" {
		t.Fatalf("add re-subscribed: %s", got)
	}

	if _, err := s.Unsubscribe(ctx, "nobody@example.com", ""); !errors.Is(err, subscribers.ErrUnknownSubscriber) {
		t.Errorf("unknown subscriber: %v", err)
	}
	if _, err := s.Unsubscribe(ctx, "ada@example.com", "nope"); !errors.Is(err, subscribers.ErrUnknownList) {
		t.Errorf("unknown list: %v", err)
	}
	s.Add(ctx, "bob@example.com", "", "weekly")
	if _, err := s.Resubscribe(ctx, "bob@example.com", "daily"); !errors.Is(err, subscribers.ErrNotMember) {
		t.Errorf("not a member: %v", err)
	}
}

func TestEachMemberAndCount(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.CreateList(ctx, subscribers.List{Name: "weekly", From: "w@example.com"}); err != nil {
		t.Fatal(err)
	}
	s.Add(ctx, "a@example.com", "A", "daily", "weekly")
	s.Add(ctx, "b@example.com", "B", "daily")
	s.Add(ctx, "c@example.com", "C", "weekly")
	s.Unsubscribe(ctx, "b@example.com", "daily")
	s.DB.ExecContext(ctx, `UPDATE memberships SET status = 'bounced' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'c@example.com')`)
	s.DB.ExecContext(ctx, `INSERT INTO subscribers (email, token, created_at, updated_at) VALUES ('lonely@example.com', 'tok', 0, 0)`)

	list := func(f subscribers.Filter) string {
		var rows []string
		err := s.EachMember(ctx, f, func(m subscribers.Member) error {
			rows = append(rows, m.Email+":"+m.List+":"+m.Status)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(rows, " ")
	}
	for _, tt := range []struct {
		f    subscribers.Filter
		want string
	}{
		{subscribers.Filter{}, "a@example.com:daily:active a@example.com:weekly:active b@example.com:daily:unsubscribed c@example.com:weekly:bounced lonely@example.com::"},
		{subscribers.Filter{List: "daily"}, "a@example.com:daily:active b@example.com:daily:unsubscribed"},
		{subscribers.Filter{Status: "active"}, "a@example.com:daily:active a@example.com:weekly:active"},
		{subscribers.Filter{List: "weekly", Status: "bounced"}, "c@example.com:weekly:bounced"},
	} {
		if got := list(tt.f); got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.f, got, tt.want)
		}
	}
	if err := s.EachMember(ctx, subscribers.Filter{Status: "gone"}, nil); err == nil {
		t.Error("an unknown status was accepted")
	}

	all, err := s.Count(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if all.People != 4 || len(all.Lists) != 2 ||
		all.Lists[0] != (subscribers.ListTally{List: "daily", Counts: subscribers.Counts{Active: 1, Unsubscribed: 1}, Total: 2}) ||
		all.Lists[1] != (subscribers.ListTally{List: "weekly", Counts: subscribers.Counts{Active: 1, Bounced: 1}, Total: 2}) {
		t.Errorf("count: %+v", all)
	}
	one, err := s.Count(ctx, "weekly")
	if err != nil || one.People != 2 || len(one.Lists) != 1 || one.Lists[0].List != "weekly" {
		t.Errorf("count weekly: %+v %v", one, err)
	}
}
