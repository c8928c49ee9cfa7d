package preview_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/fitness"
	"github.com/newsroom/digest/preview"
)

// TestEditionPageShowsFitness: the edition page shows the contrast check
// in both schemes and the size, and Mailpit's figures when a Mailpit is
// configured (a note how to enable it otherwise).
func TestEditionPageShowsFitness(t *testing.T) {
	e := newEnv(t)
	e.sample()
	srv := httptest.NewServer((&preview.Server{Source: e.src}).Handler())
	defer srv.Close()
	page, status := get(t, srv.URL+"/lists/daily/next")
	if status != 200 {
		t.Fatalf("edition page: %d", status)
	}
	for _, want := range []string{"Mail-client fitness", "Contrast, light mode", "Contrast, dark mode", "runs of text meet WCAG AA",
		`<td class="fitsize">HTML part`, "Mailpit&#39;s HTML check is off", "--mailpit http://127.0.0.1:8026"} {
		if !strings.Contains(page, want) {
			t.Errorf("edition page lacks %q", want)
		}
	}
	if strings.Contains(page, "below WCAG AA") {
		t.Error("the preview reports text below WCAG AA contrast")
	}

	bin, err := fitness.FindMailpit()
	if err != nil {
		if os.Getenv("DIGEST_REQUIRE_MAILPIT") == "1" {
			t.Fatalf("%v; DIGEST_REQUIRE_MAILPIT=1 makes this a failure", err)
		}
		t.Skipf("skipping the Mailpit part: %v", err)
	}
	mp, err := fitness.Start(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	withMailpit := httptest.NewServer((&preview.Server{Source: e.src, Mailpit: mp}).Handler())
	defer withMailpit.Close()
	page, _ = get(t, withMailpit.URL+"/lists/daily/next")
	for _, want := range []string{"% supported</strong>", "% unsupported", "the targets (at least 95 % supported", "css-padding ×"} {
		if !strings.Contains(page, want) {
			t.Errorf("edition page with Mailpit lacks %q:\n%s", want, between(page, "Mail-client fitness", "<h2>Headers"))
		}
	}
}
