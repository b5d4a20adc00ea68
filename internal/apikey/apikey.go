// Package apikey is the one API-key check of every mutating HTTP endpoint
// (drain, the Sync Routes API, POST /route_spec): the key is read once,
// held as its SHA-256, and compared in constant time whatever the length of
// the guess. It imports nothing of rsagent, so both the agent and the
// routetable leaf use it.
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Header carries the key, as in AWS Sync Routes.
const Header = "X-API-Key"

// MinLength is the shortest key accepted from a file.
const MinLength = 16

// The verdicts of Verify; Status maps them to HTTP.
var (
	ErrDisabled = errors.New("mutating endpoints are disabled: set http.api_key_file")
	ErrMissing  = errors.New("missing " + Header + " header")
	ErrWrong    = errors.New("wrong API key")
)

// Key is a configured API key. The zero Key refuses every request.
type Key struct {
	hash [sha256.Size]byte
	set  bool
}

// New holds raw as the key; an empty raw is the zero Key.
func New(raw []byte) Key {
	if len(raw) == 0 {
		return Key{}
	}
	return Key{hash: sha256.Sum256(raw), set: true}
}

// Read reads a key file; surrounding whitespace (the newline of `echo key >
// file`) is not part of the key, and the key must be at least MinLength
// characters.
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k := strings.TrimSpace(string(b))
	if len(k) < MinLength {
		return nil, fmt.Errorf("%s: the key must be at least %d characters", path, MinLength)
	}
	return []byte(k), nil
}

// Set reports whether a key is configured.
func (k Key) Set() bool { return k.set }

// Verify checks a request's header value. net/http has already trimmed
// the surrounding whitespace of header values.
func (k Key) Verify(header string) error {
	switch {
	case !k.set:
		return ErrDisabled
	case header == "":
		return ErrMissing
	}
	got := sha256.Sum256([]byte(header))
	if subtle.ConstantTimeCompare(got[:], k.hash[:]) != 1 {
		return ErrWrong
	}
	return nil
}

// Status is the HTTP status of a Verify error: 401 for a missing key, 403
// otherwise.
func Status(err error) int {
	if errors.Is(err, ErrMissing) {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}
