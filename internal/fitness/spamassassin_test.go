package fitness_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/fitness"
)

// saRule is a line of SpamAssassin's report: points, rule, description.
var saRule = regexp.MustCompile(`(?m)^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s+(.*)$`)

// TestSpamAssassin runs Debian's SpamAssassin on each delivered fixture
// edition (spamassassin -L -t: local tests only) and fails if any
// content rule fires: a BODY, RAWBODY, URI or FULL rule other than the
// informational HTML_MESSAGE (0 points: the message has HTML). It skips
// without spamassassin, unless DIGEST_REQUIRE_SPAMASSASSIN=1 (CI).
func TestSpamAssassin(t *testing.T) {
	bin, err := exec.LookPath("spamassassin")
	if err != nil {
		if os.Getenv("DIGEST_REQUIRE_SPAMASSASSIN") == "1" {
			t.Fatalf("spamassassin not found (apt-get install spamassassin); DIGEST_REQUIRE_SPAMASSASSIN=1 makes this a failure")
		}
		t.Skip("skipping: spamassassin not found (apt-get install spamassassin)")
	}
	home := t.TempDir() // its user_prefs, not the user's
	for _, c := range fitness.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ed, _, _ := render(t, c.Sel)
			msg, err := fitness.Message(ed, c.Sel.List)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-L", "-t")
			cmd.Stdin = bytes.NewReader(msg)
			cmd.Env = append(os.Environ(), "HOME="+home)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("spamassassin: %v", err)
			}
			report := string(out)
			if i := strings.Index(report, "Content analysis details:"); i >= 0 {
				report = report[i:]
			} else {
				t.Fatalf("no report in spamassassin's output:\n%s", out)
			}
			t.Logf("%s", strings.SplitN(report, "\n", 2)[0])
			for _, m := range saRule.FindAllStringSubmatch(report, -1) {
				rule, desc := m[2], m[3]
				content := strings.HasPrefix(desc, "BODY:") || strings.HasPrefix(desc, "RAWBODY:") ||
					strings.HasPrefix(desc, "URI:") || strings.HasPrefix(desc, "FULL:") || strings.HasPrefix(rule, "HTML_")
				if content && rule != "HTML_MESSAGE" {
					t.Errorf("content rule %s fired (%s points): %s", rule, m[1], desc)
				}
			}
		})
	}
}
