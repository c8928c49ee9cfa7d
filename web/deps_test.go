package web_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The subscriber-facing server must not link the delivery engine: web
// imports metrics, so metrics must be a leaf that takes plain counts.
// go list reads the real import graph, build tags and all.
func TestWebDoesNotLinkTheSMTPEngine(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"github.com/newsroom/digest/web": {"github.com/wneessen/go-mail", "github.com/newsroom/digest/delivery", "github.com/newsroom/digest/scheduler"},
		// A leaf: nothing of digest's own.
		"github.com/newsroom/digest/metrics": {"github.com/newsroom/digest/"},
	} {
		deps := goListDeps(t, pkg)
		for _, dep := range deps {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var deps []string
	for _, line := range strings.Fields(string(out)) {
		if line != pkg {
			deps = append(deps, line)
		}
	}
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pkg)
	}
	return deps
}
