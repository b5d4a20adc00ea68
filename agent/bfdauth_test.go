package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/bfd"
)

func TestBFDAuthConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", "k3y-for-sha1\n")
	long := write("long", strings.Repeat("x", 17)+"\n")
	empty := write("empty", "\n")
	for _, tc := range []struct {
		name    string
		auth    string
		want    *bfd.AuthConfig
		wantErr string
	}{
		{"keyed sha1 reads the key and drops the trailing newline", "{type: keyed-sha1, key_id: 7, secret_file: " + key + "}",
			&bfd.AuthConfig{Type: bfd.AuthKeyedSHA1, KeyID: 7, Secret: []byte("k3y-for-sha1")}, ""},
		{"meticulous keyed sha1", "{type: meticulous-keyed-sha1, key_id: 9, secret_file: " + key + "}",
			&bfd.AuthConfig{Type: bfd.AuthMeticulousSHA1, KeyID: 9, Secret: []byte("k3y-for-sha1")}, ""},
		{"a 17-byte simple password is too long", "{type: simple-password, secret_file: " + long + "}", nil,
			"bfd.auth.secret_file: " + long + " holds 17 bytes; simple-password needs 1 to 16"},
		{"an empty secret is refused", "{type: keyed-sha1, secret_file: " + empty + "}", nil, "holds 0 bytes"},
		{"an unknown type is named", "{type: keyed-md5, secret_file: " + key + "}", nil, `bfd.auth.type: "keyed-md5"`},
		{"a missing file is named", "{type: keyed-sha1, secret_file: " + filepath.Join(dir, "nope") + "}", nil, "bfd.auth.secret_file: open "},
		{"the secret file is required", "{type: keyed-sha1}", nil, "bfd.auth.secret_file: is required"},
		{"an inline secret is not a key", "{type: keyed-sha1, secret: hunter2, secret_file: " + key + "}", nil, "secret: unknown key"},
		{"a key id above 255 is refused", "{type: keyed-sha1, key_id: 256, secret_file: " + key + "}", nil, "key_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := Load([]byte(validConfig + "bfd:\n  auth: " + tc.auth + "\n"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bfdAuthEqual(m.BFDAuth, tc.want) {
				t.Fatalf("auth %+v, want %+v", m.BFDAuth, tc.want)
			}
			if got := bfdSessionConfig(m, m.BGP.Peers[0]).Auth; !bfdAuthEqual(got, tc.want) {
				t.Fatalf("the BFD session gets auth %+v, want %+v", got, tc.want)
			}
		})
	}
}
