package apikey

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestVerify(t *testing.T) {
	k := New([]byte("0123456789abcdef-key"))
	tests := []struct {
		name   string
		key    Key
		header string
		want   error
		status int
	}{
		{"the right key passes", k, "0123456789abcdef-key", nil, 0},
		{"a missing key is 401", k, "", ErrMissing, 401},
		{"a wrong key is 403", k, "nope", ErrWrong, 403},
		{"a key with the right prefix is 403", k, "0123456789abcdef-key-and-more", ErrWrong, 403},
		{"no key configured refuses everything with 403", Key{}, "0123456789abcdef-key", ErrDisabled, 403},
		{"an empty configured key is no key", New(nil), "", ErrDisabled, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.Verify(tc.header)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && Status(err) != tc.status {
				t.Errorf("Status = %d, want %d", Status(err), tc.status)
			}
		})
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := Read(write("ok", "  0123456789abcdef-key\n"))
	if err != nil || string(got) != "0123456789abcdef-key" {
		t.Fatalf("Read = %q, %v; want the key without surrounding whitespace", got, err)
	}
	if _, err := Read(write("short", "short\n")); err == nil {
		t.Error("a 5-character key was accepted")
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}
