package routetable

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestFuzzCorpusIsThere(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseSyncBody", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err != nil || len(b) == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzParseSyncBody checks that the body parser never panics, accepts only
// valid JSON with a canonical IPv4 destination, and that what it accepts
// survives a round trip.
func FuzzParseSyncBody(f *testing.F) {
	f.Add([]byte(`{"destination-cidr-block": "198.51.100.0/25", "dry-run": false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseSyncBody(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if !req.Destination.Addr().Is4() || req.Destination.Masked() != req.Destination {
			t.Fatalf("accepted %s from %q", req.Destination, body)
		}
		again, err := parseSyncBody(fmt.Appendf(nil, `{"destination-cidr-block":%q,"dry-run":%t}`, req.Destination, req.DryRun))
		if err != nil || again != req {
			t.Fatalf("round trip of %q: %+v, %v", body, again, err)
		}
	})
}
