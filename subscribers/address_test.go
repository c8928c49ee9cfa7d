package subscribers_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/storetest"
	"github.com/newsroom/digest/store"
	"github.com/newsroom/digest/subscribers"
)

func TestNormalizeAddressAccepts(t *testing.T) {
	// A 254-character address: 64-character local part, 189-character domain.
	label := strings.Repeat("b", 61)
	longest := strings.Repeat("a", 64) + "@" + label + "." + label + "." + label + ".com"
	if len(longest) != 254 {
		t.Fatalf("test setup: len = %d, want 254", len(longest))
	}
	tests := []struct {
		name, in, want string
	}{
		{"plain", "ann@example.com", "ann@example.com"},
		{"subdomain and plus", "ann+digest@mail.example.co.uk", "ann+digest@mail.example.co.uk"},
		{"padding trimmed", " \t ann@example.com\r\n ", "ann@example.com"},
		{"domain lower-cased, local part kept", "Ann.Lee@Example.COM", "Ann.Lee@example.com"},
		{"internationalised domain kept in Unicode", "user@bücher.example", "user@bücher.example"},
		{"punycode domain turned to Unicode", "user@xn--bcher-kva.example", "user@bücher.example"},
		{"upper-case Unicode domain lower-cased", "user@BÜCHER.Example", "user@bücher.example"},
		{"254 characters", longest, longest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := subscribers.NormalizeAddress(tt.in)
			if err != nil {
				t.Fatalf("NormalizeAddress(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeAddressRejects(t *testing.T) {
	label := strings.Repeat("b", 62)
	tooLong := strings.Repeat("a", 64) + "@" + label + "." + label + "." + label + ".com"
	if len(tooLong) != 257 {
		t.Fatalf("test setup: len = %d, want 257", len(tooLong))
	}
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"only spaces", "   "},
		{"space inside", "ann lee@example.com"},
		{"tab inside", "ann@exa\tmple.com"},
		{"line break inside", "ann@example.com\nBcc: eve@example.com"},
		{"two @", "ann@lee@example.com"},
		{"no @", "ann.example.com"},
		{"no domain", "ann@"},
		{"no local part", "@example.com"},
		{"no dot in domain", "ann@localhost"},
		{"trailing dot in domain", "ann@example.com."},
		{"display name", "Ann <ann@example.com>"},
		{"angle brackets", "<ann@example.com>"},
		{"quoted display name", `"Ann"<ann@example.com>`},
		{"over 254 characters", tooLong},
		{"over 254 characters, one long local part", strings.Repeat("x", 250) + "@example.com"},
		{"comma list", "ann@example.com,bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := subscribers.NormalizeAddress(tt.in)
			if err == nil {
				t.Fatalf("NormalizeAddress(%q) = %q, want error", tt.in, got)
			}
			if got != "" {
				t.Errorf("NormalizeAddress(%q) returned %q with its error, want \"\"", tt.in, got)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Eve Smith", "Eve Smith"},
		{"trimmed", "  Eve  ", "Eve"},
		{"header injection", "Eve\r\nBcc: x@y", "Eve Bcc: x@y"},
		{"tabs and NUL", "Eve\t\x00Smith", "Eve Smith"},
		{"Unicode line separator", "Eve\u2028Smith", "Eve Smith"},
		{"Unicode kept", "Zoë Ørsted", "Zoë Ørsted"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := subscribers.CleanName(tt.in)
			if got != tt.want {
				t.Errorf("CleanName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("CleanName(%q) = %q contains CR or LF", tt.in, got)
			}
		})
	}
}

func newStore(t *testing.T) (*subscribers.Store, *store.DB) {
	t.Helper()
	db := storetest.Open(t)
	now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	return &subscribers.Store{DB: db, Now: func() time.Time { return now }}, db
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	return storetest.Count(t, db, `SELECT COUNT(*) FROM `+table)
}

func TestStoreAddGetCaseInsensitive(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	added, err := s.Add(ctx, " Ann.Lee@Example.COM ", "Ann\r\nLee")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := added.Email, "Ann.Lee@example.com"; got != want {
		t.Errorf("Add email = %q, want %q", got, want)
	}
	if got, want := added.Name, "Ann Lee"; got != want {
		t.Errorf("Add name = %q, want %q", got, want)
	}
	for _, lookup := range []string{"Ann.Lee@example.com", "ann.lee@example.com", "ANN.LEE@EXAMPLE.COM"} {
		t.Run(lookup, func(t *testing.T) {
			got, err := s.Get(ctx, lookup)
			if err != nil {
				t.Fatalf("Get(%q): %v", lookup, err)
			}
			if got != added {
				t.Errorf("Get(%q) = %+v, want %+v", lookup, got, added)
			}
		})
	}
	if _, err := s.Get(ctx, "bob@example.com"); !errors.Is(err, subscribers.ErrUnknownSubscriber) {
		t.Errorf("Get unknown error = %v, want wrapping %v", err, subscribers.ErrUnknownSubscriber)
	}
	var status string
	if err := db.QueryRowContext(ctx, `SELECT m.status FROM memberships m JOIN lists l ON l.id = m.list_id
		WHERE l.name = ? AND m.subscriber_id = ?`, subscribers.DefaultList, added.ID).Scan(&status); err != nil {
		t.Fatalf("membership of default list: %v", err)
	}
	if got, want := status, subscribers.StatusActive; got != want {
		t.Errorf("membership status = %q, want %q", got, want)
	}
}

func TestStoreAddTwiceDoesNotDuplicate(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	first, err := s.Add(ctx, "ann@example.com", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, email, newName, wantName string
	}{
		{"same address", "ann@example.com", "Ann", "Ann"},
		{"other case, new name", "ANN@Example.com", "Ann Lee", "Ann Lee"},
		{"empty name keeps the old one", "ann@example.com", "", "Ann Lee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			again, err := s.Add(ctx, tt.email, tt.newName)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := again.ID, first.ID; got != want {
				t.Errorf("id = %d, want %d", got, want)
			}
			if got, want := again.Token, first.Token; got != want {
				t.Errorf("token changed on re-add: got %q, want %q", got, want)
			}
			if got, want := again.Name, tt.wantName; got != want {
				t.Errorf("name = %q, want %q", got, want)
			}
			if got, want := countRows(t, db, "subscribers"), 1; got != want {
				t.Errorf("subscribers rows = %d, want %d", got, want)
			}
			if got, want := countRows(t, db, "memberships"), 1; got != want {
				t.Errorf("memberships rows = %d, want %d", got, want)
			}
		})
	}
}

func TestStoreTokens(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	tokenRE := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// Long local parts: a random 43-character token contains a 3-letter
	// name such as "ann" by chance (case folded) about once in 800 runs.
	addrs := []string{"annabel.lee@example.com", "bartholomew@example.com", "carolina.reyes@example.org"}
	seen := map[string]string{}
	for _, addr := range addrs {
		sub, err := s.Add(ctx, addr, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(sub.Token), 43; got != want {
			t.Errorf("%s: token length = %d, want %d", addr, got, want)
		}
		if !tokenRE.MatchString(sub.Token) {
			t.Errorf("%s: token %q is not URL-safe base64", addr, sub.Token)
		}
		local := addr[:strings.IndexByte(addr, '@')]
		if strings.Contains(strings.ToLower(sub.Token), local) || strings.Contains(sub.Token, addr) {
			t.Errorf("%s: token %q contains the address", addr, sub.Token)
		}
		if other, dup := seen[sub.Token]; dup {
			t.Errorf("%s and %s share token %q", addr, other, sub.Token)
		}
		seen[sub.Token] = addr
	}

	// The token is random, not derived from the address: the same address
	// added afresh gets a different one.
	before, err := s.Get(ctx, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, before.ID); err != nil {
		t.Fatal(err)
	}
	after, err := s.Add(ctx, addrs[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if after.Token == before.Token {
		t.Errorf("re-created subscriber got the same token %q: token derived from the address?", after.Token)
	}
}

func TestStoreAddErrorsWriteNothing(t *testing.T) {
	tests := []struct {
		name    string
		email   string
		lists   []string
		wantErr error // nil: any error
	}{
		{name: "unknown list", email: "ann@example.com", lists: []string{"weekly"}, wantErr: subscribers.ErrUnknownList},
		{name: "unknown list after a known one", email: "ann@example.com", lists: []string{subscribers.DefaultList, "weekly"}, wantErr: subscribers.ErrUnknownList},
		{name: "invalid address", email: "Ann <ann@example.com>"},
		{name: "address without domain", email: "ann@"},
		{name: "empty address", email: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, db := newStore(t)
			sub, err := s.Add(ctx, tt.email, "Ann", tt.lists...)
			if err == nil {
				t.Fatalf("Add(%q, lists %v) = %+v, want error", tt.email, tt.lists, sub)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want wrapping %v", err, tt.wantErr)
			}
			for _, table := range []string{"subscribers", "memberships"} {
				if got, want := countRows(t, db, table), 0; got != want {
					t.Errorf("%s rows = %d, want %d", table, got, want)
				}
			}
		})
	}
}
