package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --db is a path, whatever characters it holds: the commands create and
// reopen exactly the file named, relative or absolute.
func TestDBFlagTakesAnyPath(t *testing.T) {
	c := newCLI(t)
	t.Chdir(c.dir)
	for _, path := range []string{"./x#y.db", "what?.db", "100% sure.db", "日報 #2.db", filepath.Join(c.dir, "abs?#.db")} {
		c.must("--db", path, "lists", "create", "weekly", "--from", "W <w@example.com>")
		if _, err := os.Stat(path); err != nil {
			t.Errorf("--db %q: no file of that name: %v", path, err)
		}
		if out := c.must("--db", path, "lists", "show", "weekly"); !strings.Contains(out, "W <w@example.com>") {
			t.Errorf("--db %q: reopened, the list is missing:\n%s", path, out)
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "x")); err == nil {
		t.Error(`--db "./x#y.db" also created a file named x`)
	}
}
