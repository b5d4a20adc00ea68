package health

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileChecks(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "ready")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "missing")
	notDir := filepath.Join(present, "below") // ENOTDIR: neither present nor absent

	mustFile := func(c Checker, err error) Checker {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name  string
		check Checker
		want  string // "" passes, else substring of the error
	}{
		{"file passes while the file exists", mustFile(NewFile(present)), ""},
		{"file fails while the file is missing", mustFile(NewFile(absent)), "does not exist"},
		{"file fails on a stat error", mustFile(NewFile(notDir)), "not a directory"},
		{"no_file passes while the file is missing", mustFile(NewNoFile(absent)), ""},
		{"no_file fails while the file exists", mustFile(NewNoFile(present)), "exists"},
		{"no_file fails on a stat error rather than calling it absent", mustFile(NewNoFile(notDir)), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check.Check(t.Context())
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("String names the kind and path", func(t *testing.T) {
		if got := mustFile(NewFile("/run/fw/ready")).String(); got != "file /run/fw/ready" {
			t.Errorf("got %q", got)
		}
		if got := mustFile(NewNoFile("/run/fw/off")).String(); got != "no_file /run/fw/off" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("relative and empty paths are refused", func(t *testing.T) {
		for _, p := range []string{"", "ready", "./ready"} {
			if _, err := NewFile(p); err == nil {
				t.Errorf("NewFile(%q) accepted", p)
			}
			if _, err := NewNoFile(p); err == nil {
				t.Errorf("NewNoFile(%q) accepted", p)
			}
		}
	})
}
