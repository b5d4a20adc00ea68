// Package iamcheck is a test helper: it checks that the IAM policies shipped
// in deploy/iam grant exactly the EC2 calls a package's API struct can make.
// Only tests import it.
package iamcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// GrantsExactly fails t unless the policies matching glob, together, grant
// "ec2:"+each field name of api, plus extra, and nothing else. minFiles is
// how many policies the glob must find at least (a glob that matches nothing
// would make the check pass vacuously).
func GrantsExactly(t testing.TB, glob string, minFiles int, api reflect.Type, extra ...string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) < minFiles {
		t.Fatalf("%s: found %d policies, want at least %d: %v", glob, len(files), minFiles, err)
	}
	var granted []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []struct{ Action []string }
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range doc.Statement {
			granted = append(granted, s.Action...)
		}
	}
	want := slices.Clone(extra)
	for i := range api.NumField() {
		want = append(want, "ec2:"+api.Field(i).Name)
	}
	slices.Sort(granted)
	slices.Sort(want)
	if !slices.Equal(granted, want) {
		t.Errorf("%s grant %v\nthe code uses  %v", glob, granted, want)
	}
}
