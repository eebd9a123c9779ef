package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinDir(t *testing.T) {
	fake := func(dir string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	root := t.TempDir()
	old := debianRoot
	defer func() { debianRoot = old }()
	debianRoot = root
	t.Setenv("PATH", t.TempDir())

	_, err := FindBinDir()
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("no binaries: %v, want a message saying what to install", err)
	}
	fake(filepath.Join(root, "13", "bin"))
	fake(filepath.Join(root, "16", "bin"))
	got, err := FindBinDir()
	if err != nil || got != filepath.Join(root, "16", "bin") {
		t.Fatalf("got %q %v, want the newest version", got, err)
	}
	onPath := t.TempDir()
	fake(onPath)
	t.Setenv("PATH", onPath)
	if got, err := FindBinDir(); err != nil || got != onPath {
		t.Fatalf("got %q %v, want the binaries on PATH first", got, err)
	}
}
