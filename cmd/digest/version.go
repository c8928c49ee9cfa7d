package main

import (
	"runtime/debug"
	"strings"
)

// versionLine describes the binary from what the Go toolchain recorded
// in it: the module version (a tag, or a pseudo-version for go install
// of a commit, "(devel)" for a build in a work tree), the VCS commit and
// its time, and whether the tree had uncommitted changes. Nothing is
// stamped by hand, so it cannot drift from the build.
func versionLine(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "unknown (built without module information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var commit, date string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			date = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	parts := []string{version}
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if modified {
			commit += " with local changes"
		}
		parts = append(parts, "commit "+commit)
	} else {
		parts = append(parts, "commit unknown")
	}
	if date != "" {
		parts = append(parts, "built from a commit of "+date)
	}
	parts = append(parts, info.GoVersion)
	return strings.Join(parts, ", ")
}

// version is the text of digest --version.
func version() string { return versionLine(debug.ReadBuildInfo()) }
