package agent

import (
	"bytes"
	"fmt"
	"os"

	"github.com/rsagent/rsagent/bfd"
)

// BFDAuthConfig is `bfd.auth`: RFC 5880 authentication on every BFD session
// of this agent. The secret lives in a file (readable by rsagent only), never
// in the config: `config check` prints the config, and configs get shared.
type BFDAuthConfig struct {
	// Type is simple-password, keyed-sha1 or meticulous-keyed-sha1.
	Type string `yaml:"type" json:"type"`
	// KeyID is the Auth Key ID carried in every packet; the peer must use
	// the same.
	KeyID uint8 `yaml:"key_id" json:"key_id"`
	// SecretFile holds the password (1–16 bytes) or SHA1 key (1–20 bytes).
	// One trailing newline is ignored.
	SecretFile string `yaml:"secret_file" json:"secret_file"`
}

var bfdAuthTypes = map[string]bfd.AuthType{
	"simple-password":       bfd.AuthSimplePassword,
	"keyed-sha1":            bfd.AuthKeyedSHA1,
	"meticulous-keyed-sha1": bfd.AuthMeticulousSHA1,
}

// validate reads the secret and returns the session auth; nil with problems
// recorded when anything is wrong.
func (c *BFDAuthConfig) validate(p *problems, path string) *bfd.AuthConfig {
	t, ok := bfdAuthTypes[c.Type]
	if !ok {
		p.addf(path+".type", "%q: want simple-password, keyed-sha1 or meticulous-keyed-sha1 (MD5 is deliberately not offered)", c.Type)
	}
	if c.SecretFile == "" {
		p.addf(path+".secret_file", "is required: the file that holds the password or key")
		return nil
	}
	raw, err := os.ReadFile(c.SecretFile)
	if err != nil {
		p.addf(path+".secret_file", "%v", err)
		return nil
	}
	secret := bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r"))
	maxLen := 20
	if t == bfd.AuthSimplePassword {
		maxLen = 16
	}
	if len(secret) < 1 || len(secret) > maxLen {
		p.addf(path+".secret_file", "%s holds %d bytes; %s needs 1 to %d", c.SecretFile, len(secret), c.Type, maxLen)
		return nil
	}
	if !ok {
		return nil
	}
	return &bfd.AuthConfig{Type: t, KeyID: c.KeyID, Secret: secret}
}

// bfdAuthEqual compares two validated auth settings, secrets included.
func bfdAuthEqual(a, b *bfd.AuthConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && a.KeyID == b.KeyID && bytes.Equal(a.Secret, b.Secret)
}

// String never shows the secret.
func authString(a *bfd.AuthConfig) string {
	if a == nil {
		return "none"
	}
	return fmt.Sprintf("%s key id %d", a.Type, a.KeyID)
}
